-- timer_cancel: KEYS[1] timers due, KEYS[2] timers data; ARGV[1] timer id.
-- Returns 1 when the timer existed.
redis.call('HDEL', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
