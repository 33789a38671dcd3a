-- KEYS: (q, delayed, reserved) per queue. Returns (waiting, delayed, reserved) per queue.
-- Due delayed jobs and lapsed leases count as waiting: the next reserve hands them out.
local now = fmt(now_us())
local out = {}
for k = 1, #KEYS, 3 do
  local due = redis.call('ZCOUNT', KEYS[k + 1], '-inf', now)
  local lapsed = redis.call('ZCOUNT', KEYS[k + 2], '-inf', now)
  out[#out + 1] = redis.call('LLEN', KEYS[k]) + due + lapsed
  out[#out + 1] = redis.call('ZCARD', KEYS[k + 1]) - due
  out[#out + 1] = redis.call('ZCARD', KEYS[k + 2]) - lapsed
end
return out
