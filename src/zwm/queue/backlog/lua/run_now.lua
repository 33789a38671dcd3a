-- KEYS: since, q, delayed, notify. ARGV: id, notify_cap.
-- Moves a delayed job to the tail of its queue, due now; returns 1, or 0 if it is not
-- delayed (already waiting, reserved, or gone).
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], fmt(now_us()))
wake(KEYS[4], 1, tonumber(ARGV[2]))
return 1
