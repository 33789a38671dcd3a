-- KEYS: payload, attempts, queue_of, since, lease, then the reserved set of each job
-- ARGV: (id, token) per job. Returns 1/0 per job: 0 when the token no longer holds the
-- lease (it lapsed and the job went to another worker, or it was acknowledged already).
local out = {}
for i = 6, #KEYS do
  local id, token = ARGV[2 * i - 11], ARGV[2 * i - 10]
  if holds(KEYS[5], id, token) then
    redis.call('ZREM', KEYS[i], id)
    for h = 1, 5 do
      redis.call('HDEL', KEYS[h], id)
    end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
