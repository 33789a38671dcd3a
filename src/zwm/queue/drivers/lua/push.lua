-- KEYS: payload, attempts, queue_of, since, queues, q, delayed, notify
-- ARGV: queue, delay_us, notify_cap, then (id, payload, attempts) per job
-- Jobs due now are appended to the waiting list in order; delayed jobs go to the delayed
-- set, one microsecond apart so that a bulk push keeps its order when it comes due.
-- An id already stored is skipped, so a push retried after a lost reply adds nothing twice.
local now = now_us()
local delay = tonumber(ARGV[2])
local ids = {}
for i = 0, (#ARGV - 3) / 3 - 1 do
  local id = ARGV[4 + 3 * i]
  if redis.call('HSETNX', KEYS[1], id, ARGV[5 + 3 * i]) == 1 then
    local available = now
    if delay > 0 then
      available = now + delay + i
      redis.call('ZADD', KEYS[7], fmt(available), id)
    end
    ids[#ids + 1] = id
    redis.call('HSET', KEYS[2], id, ARGV[6 + 3 * i])
    redis.call('HSET', KEYS[3], id, ARGV[1])
    redis.call('HSET', KEYS[4], id, fmt(available))
  end
end
if #ids == 0 then
  return 0
end
if delay <= 0 then
  redis.call('RPUSH', KEYS[6], unpack(ids))
end
redis.call('SADD', KEYS[5], ARGV[1])
wake(KEYS[8], #ids, tonumber(ARGV[3]))
return #ids
