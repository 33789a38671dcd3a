-- KEYS: payload, attempts, queue_of, since, lease, then (reserved set, tombstone) per job
-- ARGV: in_doubt, tombstone_ttl_ms, then (id, token) per job. Returns 1/0 per job: 0 when
-- the token no longer holds the lease (it lapsed and the job went to another worker, or
-- it was acknowledged already). Each removal leaves a tombstone under its token (tokens
-- are unique per reservation), so that with in_doubt=1 (an earlier try of this ack got no
-- reply) a job is counted as acknowledged only if *this token's* earlier try removed it:
-- a job another worker completed after a lost lease still answers 0.
local ttl = ARGV[2]
local out = {}
for i = 6, #KEYS, 2 do
  local j = (i - 4) / 2
  local id, token, tombstone = ARGV[2 * j + 1], ARGV[2 * j + 2], KEYS[i + 1]
  if holds(KEYS[5], id, token) then
    redis.call('ZREM', KEYS[i], id)
    for h = 1, 5 do
      redis.call('HDEL', KEYS[h], id)
    end
    redis.call('HDEL', KEYS[2], recoveries_field(id))
    redis.call('SET', tombstone, '1', 'PX', ttl)
    out[#out + 1] = 1
  elseif ARGV[1] == '1' and redis.call('EXISTS', tombstone) == 1 then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
