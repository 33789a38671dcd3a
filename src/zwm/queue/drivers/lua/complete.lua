-- KEYS: payload, attempts, queue_of, since, lease, then the reserved set of each job
-- ARGV: in_doubt, then (id, token) per job. Returns 1/0 per job: 0 when the token no
-- longer holds the lease (it lapsed and the job went to another worker, or it was
-- acknowledged already). With in_doubt=1 (an earlier try of this ack got no reply), a job
-- that no longer exists counts as acknowledged: that earlier try removed it.
local out = {}
for i = 6, #KEYS do
  local id, token = ARGV[2 * i - 10], ARGV[2 * i - 9]
  if holds(KEYS[5], id, token) then
    redis.call('ZREM', KEYS[i], id)
    for h = 1, 5 do
      redis.call('HDEL', KEYS[h], id)
    end
    redis.call('HDEL', KEYS[2], recoveries_field(id))
    out[#out + 1] = 1
  elseif ARGV[1] == '1' and redis.call('HEXISTS', KEYS[1], id) == 0 then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
