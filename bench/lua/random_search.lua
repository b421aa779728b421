-- Every request a different search drawn from the listing vocabulary (bench/generate_text.py's words,
-- one per line in args[1]): one or two random words, sometimes a state, and an upper price bound
-- above every price that is new for each request and each run, so every request misses the
-- search cache and reads PostgreSQL, as the first search for anything does.
local words = {}
local states = { "", "", "&state=TX", "&state=CO", "&state=OR", "&state=MA", "&state=FL" }
local run
local counter = 0

init = function(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  -- "1" + 6 random digits + a 6-digit counter: above every price, below the API's bound (10^13).
  run = "1" .. string.format("%06d", math.random(0, 999999))
  for line in io.lines(args[1]) do
    if #line > 0 then
      words[#words + 1] = line
    end
  end
end

request = function()
  counter = counter + 1
  local q = words[math.random(#words)]
  if math.random() < 0.5 then
    q = q .. "%20" .. words[math.random(#words)]
  end
  return wrk.format("GET", "/api/v1/marketplace/listings/?q=" .. q .. states[math.random(#states)]
    .. "&price_max_cents=" .. run .. string.format("%06d", counter))
end
