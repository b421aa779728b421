-- Every request a search nobody has made: the URL's search plus an upper price bound above every
-- price (so the same matches), different for each request and each run. Each one misses the search
-- cache, reads the database and stores its page, as the first search for anything does.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
local run = tostring(os.time() % 100000000) .. string.format("%03d", math.random(0, 999))
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "&price_max_cents=" .. run .. string.format("%06d", counter))
end
