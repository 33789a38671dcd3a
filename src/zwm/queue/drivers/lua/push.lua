-- KEYS: payload, attempts, queue_of, since, queues, q, delayed, notify, then with keep_ms > 0
--       one dispatch marker per job
-- ARGV: queue, delay_us, notify_cap, keep_ms, then (id, payload, attempts) per job
-- Jobs due now are appended to the waiting list in order; delayed jobs go to the delayed
-- set, one microsecond apart so that a bulk push keeps its order when it comes due.
-- An id already stored is skipped, so a push retried after a lost reply adds nothing twice.
-- With keep_ms > 0 each job also leaves a marker for keep_ms, and a job whose marker is
-- still there is skipped too: a push repeated after the job ran and was removed (the
-- scheduler's, re-sent after a crash) adds nothing either.
-- One multi-field command per key for the whole batch: a redis.call per job and field
-- would cost more than everything else together.
local now = now_us()
local delay = tonumber(ARGV[2])
local keep = tonumber(ARGV[4])
local n = (#ARGV - 4) / 3
local all = {}
for i = 0, n - 1 do
  all[#all + 1] = ARGV[5 + 3 * i]
end
local stored = redis.call('HMGET', KEYS[1], unpack(all))
local ids, payloads, attempts, queues, since, delayed = {}, {}, {}, {}, {}, {}
for i = 0, n - 1 do
  local id = ARGV[5 + 3 * i]
  local fresh = not stored[i + 1]
  if fresh and keep > 0 then
    fresh = redis.call('SET', KEYS[9 + i], '1', 'NX', 'PX', keep)
  end
  if fresh then
    local available = now
    if delay > 0 then
      available = now + delay + i
      delayed[#delayed + 1] = fmt(available)
      delayed[#delayed + 1] = id
    end
    ids[#ids + 1] = id
    payloads[#payloads + 1] = id
    payloads[#payloads + 1] = ARGV[6 + 3 * i]
    attempts[#attempts + 1] = id
    attempts[#attempts + 1] = ARGV[7 + 3 * i]
    queues[#queues + 1] = id
    queues[#queues + 1] = ARGV[1]
    since[#since + 1] = id
    since[#since + 1] = fmt(available)
  end
end
if #ids == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(payloads))
redis.call('HSET', KEYS[2], unpack(attempts))
redis.call('HSET', KEYS[3], unpack(queues))
redis.call('HSET', KEYS[4], unpack(since))
if delay > 0 then
  redis.call('ZADD', KEYS[7], unpack(delayed))
else
  redis.call('RPUSH', KEYS[6], unpack(ids))
end
redis.call('SADD', KEYS[5], ARGV[1])
wake(KEYS[8], #ids, tonumber(ARGV[3]))
return #ids
