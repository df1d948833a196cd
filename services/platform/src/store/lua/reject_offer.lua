-- reject_offer: an agent rejects an offer (R6.5): its reservation is freed and it is not
-- offered the conversation again during the cooldown; when nobody else is ringing the
-- conversation goes back to its queue for the next best agent.
-- KEYS[1] route:<conversation>
-- ARGV[2] conversation id, ARGV[3] offer id, ARGV[4] agent id, ARGV[5] now (ms), ARGV[6] cooldown (ms)
-- Returns {'requeued', skill} | {'ringing'} | {'gone'}.
local conversation, offer, agent = ARGV[2], ARGV[3], ARGV[4]
local r = redis.call('HMGET', KEYS[1], 'status', 'offer')
if r[1] ~= 'offered' or r[2] ~= offer then
  return { 'gone' }
end
local rest, found = {}, false
for _, ringing in ipairs(offer_agents(KEYS[1])) do
  if ringing == agent then
    found = true
  else
    rest[#rest + 1] = ringing
  end
end
if not found then
  return { 'gone' }
end
unreserve(agent, conversation)
cool_down(conversation, agent, num(ARGV[5], 'now') + num(ARGV[6], 'cooldown'), ARGV[6])
explain(conversation, { at = ARGV[5], kind = 'rejected', agent = agent, reason = 'offer_rejected' })
if #rest > 0 then
  redis.call('HSET', KEYS[1], 'offer_agents', table.concat(rest, ','))
  return { 'ringing' }
end
return { 'requeued', back_to_queue(KEYS[1], conversation) }
