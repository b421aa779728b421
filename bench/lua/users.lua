-- Authenticated requests spread over many users: each line of the file (args[1]) is
-- "<access token>\t<path>", one per user; every request picks a line at random, so the identity
-- cache and the per-user data are exercised as with real traffic, not one user's entry.
local users = {}

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  for line in io.lines(args[1]) do
    local tab = string.find(line, "\t", 1, true)
    if tab then
      users[#users + 1] = { string.sub(line, 1, tab - 1), string.sub(line, tab + 1) }
    end
  end
end

request = function()
  local u = users[math.random(#users)]
  return wrk.format("GET", u[2], { ["Authorization"] = "Bearer " .. u[1] })
end
