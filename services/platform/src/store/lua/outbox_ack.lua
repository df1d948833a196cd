-- outbox_ack: record acknowledgement up to a sequence a stream delivered (never backwards)
-- and trim the entries and dedupe ids it covers. XTRIM MINID needs Redis >= 6.2.
-- KEYS[1] outbox-meta:<channel>, KEYS[2] outbox:<channel>, KEYS[3] outbox-dedupe:<channel>
-- ARGV[2] acked sequence
-- Returns {'acked'} | {'not_delivered', delivered}.
local want = num(ARGV[2], 'ack sequence')
local meta = redis.call('HMGET', KEYS[1], 'delivered', 'acked')
local delivered = num(meta[1] or '0', 'outbox delivered sequence')
local acked = num(meta[2] or '0', 'outbox acked sequence')
if want > delivered then
  return { 'not_delivered', delivered }
end
if want > acked then
  redis.call('HSET', KEYS[1], 'acked', string.format('%d', want))
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', want + 1))
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%d', want))
end
return { 'acked' }
