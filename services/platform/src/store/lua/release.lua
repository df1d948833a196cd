-- release: on close, free the agent or drop the conversation from its queue; mark the route
-- closed (a route is created closed when there was none, so a late enqueue is ignored) and
-- let it expire after the retention.
-- KEYS[1] route:<conversation>, KEYS[2] active-skills
-- ARGV[2] conversation id, ARGV[3] retention (ms)
-- Returns {'unchanged'} | {'left', skill} | {'freed', agent, skill}.
local conversation = ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1],
    'v', RECORD_VERSION, 'skill', '', 'status', 'closed', 'agent', '', 'avoid', '', 'version', '0',
    'queued_at', '0', 'reason', 'new', 'due', '0', 'requeued_version', '0')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return { 'unchanged' }
end

local route = redis.call('HMGET', KEYS[1], 'status', 'skill', 'agent')
local status, skill, agent = route[1], route[2] or '', route[3] or ''
if status == 'closed' then
  return { 'unchanged' }
end
local outcome
if status == 'queued' then
  local queue = key('queue', skill)
  redis.call('ZREM', queue, conversation)
  if redis.call('ZCARD', queue) == 0 then
    redis.call('SREM', KEYS[2], skill)
  end
  outcome = { 'left', skill }
elseif status == 'offered' then
  -- Closed while ringing: every reservation is freed (its queue was left when it was offered).
  for _, ringing in ipairs(offer_agents(KEYS[1])) do
    unreserve(ringing, conversation)
  end
  outcome = { 'left', skill }
elseif status == 'assigned' then
  redis.call('HDEL', key('agent-load', agent), conversation)
  reindex_agent(agent)
  outcome = { 'freed', agent, skill }
else
  -- A status written by a newer version: left to it (records are forward-compatible).
  return { 'unchanged' }
end
redis.call('HSET', KEYS[1], 'status', 'closed')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', key('explain', conversation), ARGV[3])
return outcome
