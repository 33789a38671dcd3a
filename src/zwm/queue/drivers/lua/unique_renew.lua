-- KEYS: locks. ARGV: ttl_ms, then the owner of each lock. Lengthen each lock its owner
-- still holds to at least ttl_ms from now (never shorten one). Returns how many it kept.
local kept = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i + 1] then
    kept = kept + 1
    if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[1]) then
      redis.call('PEXPIRE', KEYS[i], ARGV[1])
    end
  end
end
return kept
