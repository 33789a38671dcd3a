-- KEYS: lease, then the reserved set of each reservation
-- ARGV: lease_us, then (id, token) per reservation. Returns 1/0 per reservation.
local lease_until = fmt(now_us() + tonumber(ARGV[1]))
local out = {}
for i = 2, #KEYS do
  local id, token = ARGV[2 * i - 2], ARGV[2 * i - 1]
  if holds(KEYS[1], id, token) then
    redis.call('ZADD', KEYS[i], lease_until, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
