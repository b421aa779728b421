-- As distinct_search.lua (every request a search nobody has made), each connection pausing
-- args[1] milliseconds before each request: a client keeping under its rate limit.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
local run = "1" .. string.format("%06d", math.random(0, 999999))
local counter = 0
local pause = 100

init = function(args)
  pause = tonumber(args[1]) or pause
end

delay = function()
  return pause
end

request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "&price_max_cents=" .. run .. string.format("%06d", counter))
end
