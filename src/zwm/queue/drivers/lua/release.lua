-- KEYS: lease, since, reserved, q, delayed, notify, tombstone
-- ARGV: in_doubt, tombstone_ttl_ms, id, token, delay_us, notify_cap. Returns 1, or 0 if
-- the token lost the lease. The attempt count stays: it was counted when the job was
-- reserved. As in complete.lua, the release leaves a tombstone under its token, and with
-- in_doubt=1 (an earlier try got no reply) a lost lease answers 1 only if that tombstone
-- says this token's earlier try released the job.
local id, token = ARGV[3], ARGV[4]
if not holds(KEYS[1], id, token) then
  if ARGV[1] == '1' and redis.call('EXISTS', KEYS[7]) == 1 then
    return {1}
  end
  return {0}
end
local now = now_us()
local delay = tonumber(ARGV[5])
redis.call('ZREM', KEYS[3], id)
redis.call('HDEL', KEYS[1], id)
redis.call('HSET', KEYS[2], id, fmt(now + delay))
if delay > 0 then
  redis.call('ZADD', KEYS[5], fmt(now + delay), id)
else
  redis.call('RPUSH', KEYS[4], id)
end
wake(KEYS[6], 1, tonumber(ARGV[6]))
redis.call('SET', KEYS[7], '1', 'PX', ARGV[2])
return {1}
