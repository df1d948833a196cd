-- accept_offer: an agent accepts an offer (R6.5). The first accept of an offer wins: the
-- conversation is assigned to that agent and pending announcement, the other agents it rang for
-- (ring-all) lose their reservation. A retry of the winning accept answers the same.
-- KEYS[1] route:<conversation>, KEYS[2] unannounced
-- ARGV[2] conversation id, ARGV[3] offer id, ARGV[4] agent id, ARGV[5] now (ms)
-- Returns {'accepted', version, skill, rescinded agent, ...} | {'already', version, skill} |
-- {'gone'}.
local conversation, offer, agent = ARGV[2], ARGV[3], ARGV[4]
local r = redis.call('HMGET', KEYS[1], 'status', 'offer', 'agent', 'last_offer', 'version', 'skill')
if r[1] == 'assigned' and r[3] == agent and r[4] == offer then
  return { 'already', r[5], r[6] }
end
if r[1] ~= 'offered' or r[2] ~= offer then
  return { 'gone' }
end
local others, found = {}, false
for _, ringing in ipairs(offer_agents(KEYS[1])) do
  if ringing == agent then
    found = true
  else
    others[#others + 1] = ringing
  end
end
if not found then
  return { 'gone' }
end
for _, other in ipairs(others) do
  unreserve(other, conversation)
end
redis.call('HSET', key('agent', agent), 'last_assigned', ARGV[5])
reindex_agent(agent)
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'status', 'assigned', 'agent', agent, 'avoid', '', 'last_offer', offer,
  'assigned_at', ARGV[5])
redis.call('HDEL', KEYS[1], 'offer', 'offer_agents', 'offer_expires')
redis.call('ZADD', KEYS[2], ARGV[5], conversation)
explain(conversation, { at = ARGV[5], kind = 'assigned', skill = r[6], agent = agent, version = tostring(version),
  reason = 'offer_accepted' })
local out = { 'accepted', version, r[6] }
for _, other in ipairs(others) do
  out[#out + 1] = other
end
return out
