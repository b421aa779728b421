-- Cycles through pre-signed Stripe deliveries: each line of the file is "<signature>\t<body>".
local deliveries = {}
local index = 0

init = function(args)
  for line in io.lines(args[1]) do
    local tab = string.find(line, "\t", 1, true)
    deliveries[#deliveries + 1] = { string.sub(line, 1, tab - 1), string.sub(line, tab + 1) }
  end
end

request = function()
  index = index % #deliveries + 1
  local d = deliveries[index]
  return wrk.format("POST", "/api/v1/payments/stripe/webhook",
    { ["Content-Type"] = "application/json", ["Stripe-Signature"] = d[1] }, d[2])
end
