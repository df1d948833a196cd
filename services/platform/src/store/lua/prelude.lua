-- Prepended to every script by redis.rs.
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
