-- set_weight: the weight a held conversation counts in its agent's load (dynamic capacity,
-- R8.2, R8.3), the agent re-indexed in the same step; only while the route says assigned to
-- that agent, so an offer's reservation is never touched.
-- KEYS[1] route:<conversation>, KEYS[2] agent-load:<agent>
-- ARGV[2] agent id, ARGV[3] conversation id, ARGV[4] weight (milli)
-- Returns false when the agent does not hold the conversation, else the weight it had.
local route = redis.call('HMGET', KEYS[1], 'status', 'agent')
if route[1] ~= 'assigned' or route[2] ~= ARGV[2] then
  return false
end
local old = redis.call('HGET', KEYS[2], ARGV[3])
if not old then
  return false
end
if old ~= ARGV[4] then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  reindex_agent(ARGV[2])
end
return num(old, 'agent load weight')
