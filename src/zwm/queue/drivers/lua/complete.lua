-- KEYS: payload, attempts, queue_of, since, lease, acked, then the reserved set of each job
-- ARGV: ack_memory_us, then (id, token) per job. Returns 1/0 per job.
-- An accepted token is remembered for ack_memory_us so that the retry of an ack whose reply
-- was lost with the connection is still answered 1, not "lease lost".
local now = now_us()
redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', fmt(now - tonumber(ARGV[1])))
local out = {}
for i = 7, #KEYS do
  local id, token = ARGV[2 * i - 12], ARGV[2 * i - 11]
  if holds(KEYS[5], id, token) then
    redis.call('ZREM', KEYS[i], id)
    for h = 1, 5 do
      redis.call('HDEL', KEYS[h], id)
    end
    redis.call('ZADD', KEYS[6], fmt(now), token)
    out[#out + 1] = 1
  elseif redis.call('ZSCORE', KEYS[6], token) then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
