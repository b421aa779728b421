-- Every request a search nobody has made: the URL's search plus an upper price bound above every
-- price (so the same matches), different for each request and each run. Each one misses the search
-- cache, reads the database and stores its page, as the first search for anything does.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
-- "1" + 6 random digits + a 6-digit counter: above every price, below the API's bound (10^13).
local run = "1" .. string.format("%06d", math.random(0, 999999))
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "&price_max_cents=" .. run .. string.format("%06d", counter))
end
