-- KEYS: lease, acked, since, reserved, q, delayed, notify
-- ARGV: id, token, delay_us, notify_cap, ack_memory_us. Returns 1/0.
local id, token = ARGV[1], ARGV[2]
local now = now_us()
if not holds(KEYS[1], id, token) then
  if redis.call('ZSCORE', KEYS[2], token) then
    return 1
  end
  return 0
end
local delay = tonumber(ARGV[3])
redis.call('ZREM', KEYS[4], id)
redis.call('HDEL', KEYS[1], id)
redis.call('HSET', KEYS[3], id, fmt(now + math.max(delay, 0)))
if delay > 0 then
  redis.call('ZADD', KEYS[6], fmt(now + delay), id)
else
  redis.call('RPUSH', KEYS[5], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', fmt(now - tonumber(ARGV[5])))
redis.call('ZADD', KEYS[2], fmt(now), token)
wake(KEYS[7], 1, tonumber(ARGV[4]))
return 1
