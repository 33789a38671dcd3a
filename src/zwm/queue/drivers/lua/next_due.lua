-- KEYS: (q, delayed, reserved) per queue. Returns microseconds until a job becomes
-- available (0 if one is waiting already; a delayed job coming due or a lease lapsing
-- otherwise), or -1 if none will without a push.
local now = now_us()
local best = -1
for k = 1, #KEYS, 3 do
  if redis.call('LLEN', KEYS[k]) > 0 then
    return 0
  end
  for s = k + 1, k + 2 do
    local first = redis.call('ZRANGE', KEYS[s], 0, 0, 'WITHSCORES')
    if first[2] then
      local wait = math.max(tonumber(first[2]) - now, 0)
      if best < 0 or wait < best then
        best = wait
      end
    end
  end
end
return fmt(best)
