-- timer_schedule: schedule or move a timer; with ARGV[4] = '1' only when that makes it due
-- sooner (or it does not exist).
-- KEYS[1] timers due (sorted set: timer id scored by due time, or lease expiry once handed
-- out), KEYS[2] timers data (hash timer id -> payload)
-- ARGV[1] timer id, ARGV[2] due (ms), ARGV[3] payload, ARGV[4] '1': no later than it is
if ARGV[4] == '1' then
  local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if current and num(current, 'timer due') <= num(ARGV[2], 'timer due argument') then
    return 0
  end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
