-- append_message: dedupe id, closed check, per-conversation limit, consumer rate (GCRA, the
-- same arithmetic as store/rate.rs), sequence, transcript append.
-- KEYS[1] conv:<id>, KEYS[2] transcript:<id> (list; sequence = position + 1),
-- KEYS[3] msg-dedupe:<id> (hash dedupe id -> sequence); with an outbox entry also
-- KEYS[4] outbox-meta:<channel>, KEYS[5] outbox:<channel>
-- ARGV[2] dedupe id ('' for none), ARGV[3] encoded message (opaque to Lua),
-- ARGV[4] max messages (0: none), ARGV[5] consumer messages per minute ('' : not counted),
-- ARGV[6] now (ms), ARGV[7] outbox payload (with KEYS[4..5]; written with field 's' = the
-- message's sequence; '' without), ARGV[8] pending side after it ('' : unchanged), ARGV[9] the
-- field of its writer's last message time
-- Returns {'notfound'} | {'closed'} | {'duplicate', sequence, encoded} | {'appended', sequence}
-- | {'too_many', limit} | {'rate_limited', retry after ms} | {'newer'}.
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

local conv = redis.call('HMGET', KEYS[1], 'status', 'channel', 'consumer', 'pending')
if conv[1] == 'closed' then
  return { 'closed' }
end
if not conv[1] or conv[1] == '' or not conv[2] or not conv[3] then
  fail_corrupt('conversation record')
end
if conv[1] ~= 'open' then
  -- A status a newer version wrote (records are forward-compatible): left to it.
  return { 'newer' }
end

local max = num(ARGV[4], 'max messages')
if max > 0 and redis.call('LLEN', KEYS[2]) >= max then
  return { 'too_many', ARGV[4] }
end

if ARGV[5] ~= '' then
  local per_minute = math.max(num(ARGV[5], 'rate per minute'), 1)
  local interval = math.floor(60000000 / per_minute)
  local burst = (per_minute - 1) * interval
  local now = num(ARGV[6], 'now') * 1000
  local rate_key = key('rate', conv[2] .. '|' .. conv[3])
  local tat = tonumber(redis.call('GET', rate_key) or '') or now
  if tat < now then
    tat = now
  end
  if tat - now > burst then
    return { 'rate_limited', math.floor((tat - now - burst + 999) / 1000) }
  end
  local next_tat = tat + interval
  redis.call('SET', rate_key, string.format('%d', next_tat), 'PX',
    string.format('%d', math.floor((next_tat - now) / 1000) + 1))
end

local sequence = redis.call('RPUSH', KEYS[2], ARGV[3])
if ARGV[8] ~= '' then
  -- R9.2: whose turn it is, and when that side last wrote (the rule is rules.rs's).
  redis.call('HSET', KEYS[1], 'pending', ARGV[8], ARGV[9], ARGV[6])
  if ARGV[8] == 'agent' and conv[4] ~= 'agent' then
    -- The consumer's wait begins (R8.19 measures an answered wait from here).
    redis.call('HSET', KEYS[1], 'waiting_since', ARGV[6])
  end
end
if dedupe ~= '' then
  redis.call('HSET', KEYS[3], dedupe, sequence)
end
if #KEYS >= 5 then
  local entry = redis.call('HINCRBY', KEYS[4], 'next', 1)
  redis.call('XADD', KEYS[5], string.format('%d-0', entry), 'p', ARGV[7], 's', sequence)
end
return { 'appended', sequence }
