-- Appended to every wrk script the bench runs (bench/load.py wrk_with): wrk's --latency table has no
-- 95th percentile, so this prints the ones the report gives, in microseconds, after the run. A
-- `done` the script itself defines still runs first.
local script_done = done
done = function(summary, latency, requests)
  if script_done then
    script_done(summary, latency, requests)
  end
  for _, p in ipairs({ 50, 95, 99 }) do
    io.write(string.format("bench-percentile %d %d\n", p, latency:percentile(p)))
  end
end
