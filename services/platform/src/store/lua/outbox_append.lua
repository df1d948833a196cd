-- outbox_append: idempotent on the dedupe id, per (account, channel) sequence.
-- KEYS[1] outbox-meta:<channel> (hash next, acked), KEYS[2] outbox-dedupe:<channel>
-- (hash dedupe id -> sequence), KEYS[3] outbox:<channel> (stream; entry id "<sequence>-0",
-- field 'p' = payload)
-- ARGV[2] dedupe id ('' for none), ARGV[3] payload
-- Returns the sequence.
local dedupe = ARGV[2]
if dedupe ~= '' then
  local seen = redis.call('HGET', KEYS[2], dedupe)
  if seen then
    return num(seen, 'outbox dedupe sequence')
  end
end

local sequence = redis.call('HINCRBY', KEYS[1], 'next', 1)
redis.call('XADD', KEYS[3], string.format('%d-0', sequence), 'p', ARGV[3])
if dedupe ~= '' then
  redis.call('HSET', KEYS[2], dedupe, sequence)
end
return sequence
