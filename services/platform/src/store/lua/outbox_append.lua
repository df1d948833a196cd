-- outbox_append: idempotent on the dedupe id until acknowledged, per (account, channel)
-- sequence, and (when asked) only while the conversation is open.
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
if ARGV[4] ~= '' and redis.call('HGET', key('conv', ARGV[4]), 'status') ~= 'open' then
  return { 'not_open' }
end

local sequence = redis.call('HINCRBY', KEYS[1], 'next', 1)
redis.call('XADD', KEYS[3], string.format('%d-0', sequence), 'p', ARGV[3])
if dedupe ~= '' then
  redis.call('ZADD', KEYS[2], sequence, dedupe)
end
return { 'appended', sequence }
