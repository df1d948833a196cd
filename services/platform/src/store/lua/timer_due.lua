-- timer_due: hands out up to ARGV[3] timers due at ARGV[1], each leased until ARGV[2] (its
-- score becomes the lease expiry, so it comes due again if the taker never completes it).
-- KEYS[1] timers due, KEYS[2] timers data
-- Returns a flat list: timer id, payload, ...
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
end
return out
