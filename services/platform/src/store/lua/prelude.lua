-- Prepended to every script by redis.rs, after RECORD_VERSION (the record layout version this
-- build writes) and SKILL_HISTORY_LIMIT (how many skill steps a route keeps).
--
-- Conventions: ARGV[1] is always the account's key base "<prefix>:{<account>}:". Every key a
-- script touches is that base plus "<family>" or "<family>:<id>", so all of them carry the
-- account's hash tag and live in one Redis Cluster slot. Keys known before the call are passed
-- in KEYS; keys that depend on stored data (the agent of a route, the old skills of an agent)
-- are derived from ARGV[1] inside the script, which stays in the same slot.
--
-- Numbers: ids and timestamps are stored exactly as the caller sent them (strings); Lua only
-- converts to numbers to compare or add (exact below 2^53, far above any Milli load or ms
-- timestamp). Stored data that does not parse raises a "CORRUPT ..." error reply, which the
-- Rust side maps to StoreError::Corrupt.

local function fail_corrupt(what)
  error({ err = 'CORRUPT ' .. what })
end

local function num(value, what)
  local n = tonumber(value)
  if n == nil then
    fail_corrupt(what)
  end
  return n
end

local function key(family, id)
  return ARGV[1] .. family .. ':' .. id
end

-- R5.7: records the skill change in the route's history (newline-separated
-- "<at> <reason> <skill>" steps; ids hold no spaces), keeping the latest SKILL_HISTORY_LIMIT.
local function push_skill_step(route, at, reason, skill)
  local steps = {}
  for step in string.gmatch(redis.call('HGET', route, 'skills') or '', '[^\n]+') do
    steps[#steps + 1] = step
  end
  steps[#steps + 1] = at .. ' ' .. reason .. ' ' .. skill
  while #steps > SKILL_HISTORY_LIMIT do
    table.remove(steps, 1)
  end
  redis.call('HSET', route, 'skills', table.concat(steps, '\n'))
end
