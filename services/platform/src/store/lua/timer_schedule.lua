-- timer_schedule: schedule or move a timer.
-- KEYS[1] timers due (sorted set: timer id scored by due time, or lease expiry once handed
-- out), KEYS[2] timers data (hash timer id -> payload)
-- ARGV[1] timer id, ARGV[2] due (ms), ARGV[3] payload
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
