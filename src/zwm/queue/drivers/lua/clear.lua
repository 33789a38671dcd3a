-- KEYS: payload, attempts, queue_of, since, q, delayed. ARGV: batch size.
-- Removes up to one batch of waiting, then delayed, jobs (the caller loops), so clearing a
-- huge queue never blocks Redis for long. Returns how many were removed.
local batch = tonumber(ARGV[1])
local ids = redis.call('LPOP', KEYS[5], batch)
if not ids then
  ids = redis.call('ZRANGE', KEYS[6], 0, batch - 1)
  if #ids == 0 then
    return 0
  end
  redis.call('ZREM', KEYS[6], unpack(ids))
end
for h = 1, 4 do
  redis.call('HDEL', KEYS[h], unpack(ids))
end
local fields = {}
for i, id in ipairs(ids) do
  fields[i] = recoveries_field(id)
end
redis.call('HDEL', KEYS[2], unpack(fields))
return #ids
