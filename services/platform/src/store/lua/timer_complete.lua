-- timer_complete: removes a fired timer unless it was rescheduled since it was handed out.
-- KEYS[1] timers due, KEYS[2] timers data; ARGV[1] timer id, ARGV[2] lease (the score it got)
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
