-- KEYS: payload, attempts, lease, then (q, delayed, reserved, notify) per queue,
--       in priority order
-- ARGV: lease_us, limit, token_base
-- Returns {now_us, then (id, payload, attempts, token, queue index, recoveries) per job}.
local now = now_us()
local lease_until = fmt(now + tonumber(ARGV[1]))
local limit = tonumber(ARGV[2])
local out = {fmt(now)}
local taken = 0
for k = 4, #KEYS, 4 do
  local q, delayed, reserved, notify = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3]
  -- Leases that lapsed (worker killed, host lost) go back to the head of the queue:
  -- they were at the head when they were taken. Earliest lapsed ends up first. It is a
  -- recovery, not a try: the try the lost worker made is uncounted, to be made again.
  local lapsed = redis.call('ZRANGEBYSCORE', reserved, '-inf', fmt(now), 'LIMIT', 0, 1000)
  for j = #lapsed, 1, -1 do
    local id = lapsed[j]
    redis.call('ZREM', reserved, id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HINCRBY', KEYS[2], id, -1)
    redis.call('HINCRBY', KEYS[2], recoveries_field(id), 1)
    redis.call('LPUSH', q, id)
  end
  -- Delayed jobs that came due join the tail, in due order.
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', fmt(now), 'LIMIT', 0, 1000)
  if #due > 0 then
    redis.call('ZREM', delayed, unpack(due))
    redis.call('RPUSH', q, unpack(due))
  end
  if taken < limit then
    local ids = redis.call('LPOP', q, limit - taken)
    if ids then
      for _, id in ipairs(ids) do
        taken = taken + 1
        local token = ARGV[3] .. ':' .. taken
        local attempts = redis.call('HINCRBY', KEYS[2], id, 1)
        redis.call('HSET', KEYS[3], id, token .. '|' .. fmt(now))
        redis.call('ZADD', reserved, lease_until, id)
        out[#out + 1] = id
        out[#out + 1] = redis.call('HGET', KEYS[1], id) or ''
        out[#out + 1] = attempts
        out[#out + 1] = token
        out[#out + 1] = (k - 4) / 4
        out[#out + 1] = redis.call('HGET', KEYS[2], recoveries_field(id)) or 0
      end
      -- Chain the wake-up: more is waiting here, so let one more idle worker know.
      if redis.call('LLEN', q) > 0 then
        wake(notify, 1, 1)
      end
    end
  end
end
return out
