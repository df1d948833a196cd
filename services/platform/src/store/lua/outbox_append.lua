-- outbox_append: idempotent on the dedupe id until acknowledged (for an entry about a
-- conversation: for as long as the conversation is kept), per (account, channel) sequence, and
-- (when asked) only while the conversation is open.
-- KEYS[1] outbox-meta:<channel> (hash next, acked, delivered), KEYS[2] outbox-dedupe:<channel>
-- (sorted set: dedupe id scored by its sequence), KEYS[3] outbox:<channel> (stream; entry id
-- "<sequence>-0", field 'p' = payload)
-- ARGV[2] dedupe id ('' for none), ARGV[3] payload, ARGV[4] conversation that must be open
-- ('' for none)
-- Returns {'appended', sequence} | {'duplicate', sequence} | {'not_open'}.
local dedupe = ARGV[2]
if dedupe ~= '' then
  local seen = redis.call('ZSCORE', KEYS[2], dedupe)
  if seen then
    return { 'duplicate', num(seen, 'outbox dedupe sequence') }
  end
end
-- About an open conversation, the dedupe id is also kept on the conversation's record (field
-- 'outbox:<id>'), which lives until the conversation expires: an acknowledged entry is not
-- written again.
local conv = ARGV[4] ~= '' and key('conv', ARGV[4]) or nil
if conv and dedupe ~= '' then
  local once = redis.call('HGET', conv, 'outbox:' .. dedupe)
  if once then
    return { 'duplicate', num(once, 'outbox dedupe sequence') }
  end
end
if conv and redis.call('HGET', conv, 'status') ~= 'open' then
  return { 'not_open' }
end

local sequence = redis.call('HINCRBY', KEYS[1], 'next', 1)
redis.call('XADD', KEYS[3], string.format('%d-0', sequence), 'p', ARGV[3])
if dedupe ~= '' then
  redis.call('ZADD', KEYS[2], sequence, dedupe)
  if conv then
    redis.call('HSET', conv, 'outbox:' .. dedupe, sequence)
  end
end
return { 'appended', sequence }
