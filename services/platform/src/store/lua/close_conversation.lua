-- close_conversation: close and free the consumer for a new conversation.
-- KEYS[1] conv:<id>, KEYS[2] consumer-open (hash consumer id -> open conversation id)
-- ARGV[2] conversation id, ARGV[3] now (ms)
-- Returns {'notfound'} | {'already', HGETALL} | {'closed', HGETALL}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'notfound' }
end
local fields = redis.call('HMGET', KEYS[1], 'status', 'consumer')
local status, consumer = fields[1], fields[2]
if status == 'closed' then
  return { 'already', redis.call('HGETALL', KEYS[1]) }
end
if status ~= 'open' or not consumer then
  fail_corrupt('conversation record')
end

redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[3])
if redis.call('HGET', KEYS[2], consumer) == ARGV[2] then
  redis.call('HDEL', KEYS[2], consumer)
end
return { 'closed', redis.call('HGETALL', KEYS[1]) }
