-- outbox_delivered: a stream hands entries up to ARGV[2] to the partner; the high-water mark
-- never moves back and never past the last appended entry.
-- KEYS[1] outbox-meta:<channel>
local want = num(ARGV[2], 'delivered sequence')
local meta = redis.call('HMGET', KEYS[1], 'next', 'delivered')
local last = num(meta[1] or '0', 'outbox next sequence')
local delivered = num(meta[2] or '0', 'outbox delivered sequence')
if want > last then
  want = last
end
if want > delivered then
  redis.call('HSET', KEYS[1], 'delivered', string.format('%d', want))
end
return 1
