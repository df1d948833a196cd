-- close_conversation: close, free the consumer for a new conversation, and let what the
-- conversation leaves behind expire after the retention.
-- KEYS[1] conv:<id>, KEYS[2] consumer-open (hash consumer id -> open conversation id),
-- KEYS[3] transcript:<id>, KEYS[4] msg-dedupe:<id>; with an outbox entry also
-- KEYS[5] outbox-meta:<channel>, KEYS[6] outbox:<channel>
-- ARGV[2] conversation id, ARGV[3] now (ms), ARGV[4] retention (ms), ARGV[5] outbox payload
-- Returns {'notfound'} | {'already', HGETALL} | {'closed', HGETALL} | {'newer'}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'notfound' }
end
local fields = redis.call('HMGET', KEYS[1], 'status', 'consumer')
local status, consumer = fields[1], fields[2]
if status == 'closed' then
  return { 'already', redis.call('HGETALL', KEYS[1]) }
end
if not status or status == '' or not consumer then
  fail_corrupt('conversation record')
end
if status ~= 'open' then
  -- A status a newer version wrote (records are forward-compatible): left to it.
  return { 'newer' }
end

redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[3])
if redis.call('HGET', KEYS[2], consumer) == ARGV[2] then
  redis.call('HDEL', KEYS[2], consumer)
end
for i = 1, 4 do
  if i ~= 2 then
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
  end
end
if #KEYS >= 6 then
  local entry = redis.call('HINCRBY', KEYS[5], 'next', 1)
  redis.call('XADD', KEYS[6], string.format('%d-0', entry), 'p', ARGV[5])
end
return { 'closed', redis.call('HGETALL', KEYS[1]) }
