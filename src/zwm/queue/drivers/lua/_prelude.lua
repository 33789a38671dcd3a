-- Shared by every script (prepended by zwm.queue.drivers.redis).
-- Times are integer microseconds of the *Redis server's* clock, so leases and delays
-- mean the same thing to every worker host whatever their own clocks say. Numbers are
-- formatted with %.0f: tostring() would print 1.7e+15 and lose the microseconds.
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function fmt(n)
  return string.format('%.0f', n)
end

-- The lease hash holds "token|reserved_us" while a job is reserved.
local function holds(lease_key, id, token)
  local v = redis.call('HGET', lease_key, id)
  return v and string.sub(v, 1, #token + 1) == token .. '|'
end

-- Leave up to `n` (at most `cap`) wake-up tokens for workers blocked in wait().
local function wake(notify_key, n, cap)
  local missing = math.min(n, cap) - redis.call('LLEN', notify_key)
  for _ = 1, missing do
    redis.call('RPUSH', notify_key, '1')
  end
end

-- The attempts hash also holds, under "<id>#r", how often the job was recovered from a
-- lost worker (absent: never). Every script that forgets a job forgets both fields.
local function recoveries_field(id)
  return id .. '#r'
end
