-- append_message: dedupe id, closed check, sequence, transcript append.
-- KEYS[1] conv:<id>, KEYS[2] transcript:<id> (list; sequence = position + 1),
-- KEYS[3] msg-dedupe:<id> (hash dedupe id -> sequence)
-- ARGV[2] dedupe id ('' for none), ARGV[3] encoded message (opaque to Lua)
-- Returns {'notfound'} | {'closed'} | {'duplicate', sequence, encoded} | {'appended', sequence}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 'notfound' }
end

local dedupe = ARGV[2]
if dedupe ~= '' then
  local seen = redis.call('HGET', KEYS[3], dedupe)
  if seen then
    local sequence = num(seen, 'message dedupe sequence')
    local encoded = redis.call('LINDEX', KEYS[2], sequence - 1)
    if encoded then
      return { 'duplicate', sequence, encoded }
    end
  end
end

local status = redis.call('HGET', KEYS[1], 'status')
if status == 'closed' then
  return { 'closed' }
end
if status ~= 'open' then
  fail_corrupt('conversation status')
end

local sequence = redis.call('RPUSH', KEYS[2], ARGV[3])
if dedupe ~= '' then
  redis.call('HSET', KEYS[3], dedupe, sequence)
end
return { 'appended', sequence }
