-- outbox_ack: record delivery up to a sequence (never backwards, never past the last
-- appended entry) and trim what it covers. XTRIM MINID needs Redis >= 6.2.
-- KEYS[1] outbox-meta:<channel>, KEYS[2] outbox:<channel>
-- ARGV[2] acked sequence
local want = num(ARGV[2], 'ack sequence')
local meta = redis.call('HMGET', KEYS[1], 'next', 'acked')
local last = num(meta[1] or '0', 'outbox next sequence')
local acked = num(meta[2] or '0', 'outbox acked sequence')
if want > last then
  want = last
end
if want > acked then
  redis.call('HSET', KEYS[1], 'acked', string.format('%d', want))
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', want + 1))
end
return 1
