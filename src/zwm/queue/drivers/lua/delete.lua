-- KEYS: payload, attempts, queue_of, since, q, delayed. ARGV: id.
-- Removes a waiting or delayed job; a reserved one is left to its worker. Returns 1/0.
-- LREM is O(n) in the queue length: fine for an operator's click, not for a hot path.
local removed = redis.call('ZREM', KEYS[6], ARGV[1]) + redis.call('LREM', KEYS[5], 1, ARGV[1])
if removed == 0 then
  return 0
end
for h = 1, 4 do
  redis.call('HDEL', KEYS[h], ARGV[1])
end
redis.call('HDEL', KEYS[2], recoveries_field(ARGV[1]))
return 1
