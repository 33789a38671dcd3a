-- KEYS: lease, since, reserved, q, delayed, notify
-- ARGV: in_doubt, id, token, delay_us, notify_cap. Returns 1, or 0 if the token lost the
-- lease. The attempt count stays: it was counted when the job was reserved.
-- With in_doubt=1 (an earlier try got no reply) a lost lease answers 1: that try may have
-- released the job, and either way it is back in other workers' hands.
local id, token = ARGV[2], ARGV[3]
if not holds(KEYS[1], id, token) then
  return {tonumber(ARGV[1])}
end
local now = now_us()
local delay = tonumber(ARGV[4])
redis.call('ZREM', KEYS[3], id)
redis.call('HDEL', KEYS[1], id)
redis.call('HSET', KEYS[2], id, fmt(now + delay))
if delay > 0 then
  redis.call('ZADD', KEYS[5], fmt(now + delay), id)
else
  redis.call('RPUSH', KEYS[4], id)
end
wake(KEYS[6], 1, tonumber(ARGV[5]))
return {1}
