-- Anonymous requests spread over many paths: each line of the file (args[1]) is a path; every
-- request picks one at random (the listing detail pages of many listings, not one).
local paths = {}

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
end

request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
