-- KEYS: payload hash, source (a waiting LIST or a delayed/reserved ZSET)
-- ARGV: kind ('list' | 'zset'), start, count, min score, max score (zset only),
--       needle (plain substring of the payload, '' for none),
--       lowered needle (plain substring of the lower-cased payload, '' for none)
-- Looks at entries start .. start+count-1 of the source (a zset: of those scored within
-- [min, max]) and returns {entries looked at, then the ids whose payload matches}.
-- Matching runs here so that a search over 100,000 jobs moves ids, not payloads; the
-- caller keeps `count` small so that one call never holds Redis for long.
local start, count = tonumber(ARGV[2]), tonumber(ARGV[3])
local ids
if ARGV[1] == 'list' then
  ids = redis.call('LRANGE', KEYS[2], start, start + count - 1)
else
  ids = redis.call('ZRANGE', KEYS[2], ARGV[4], ARGV[5], 'BYSCORE', 'LIMIT', start, count)
end
local out = {#ids}
if #ids == 0 then
  return out
end
local needle, lowered = ARGV[6], ARGV[7]
if needle == '' and lowered == '' then
  for _, id in ipairs(ids) do
    out[#out + 1] = id
  end
  return out
end
local payloads = redis.call('HMGET', KEYS[1], unpack(ids))
for i, id in ipairs(ids) do
  local p = payloads[i]
  if p and (needle == '' or string.find(p, needle, 1, true))
      and (lowered == '' or string.find(string.lower(p), lowered, 1, true)) then
    out[#out + 1] = id
  end
end
return out
