-- KEYS: lease, attempts, then (reserved, q, notify) per job
-- ARGV: notify_cap, then (id, token) per job. Returns 1/0 per job: 0 when the token no
-- longer holds the lease. A job reserved but never started goes back to the head of its
-- queue (it was at the head when it was taken) with its try uncounted.
local out = {}
local n = (#KEYS - 2) / 3
for i = n, 1, -1 do
  local id, token = ARGV[2 * i], ARGV[2 * i + 1]
  local reserved, q, notify = KEYS[3 * i], KEYS[3 * i + 1], KEYS[3 * i + 2]
  if holds(KEYS[1], id, token) then
    redis.call('ZREM', reserved, id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('HINCRBY', KEYS[2], id, -1)
    redis.call('LPUSH', q, id)
    wake(notify, 1, tonumber(ARGV[1]))
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
