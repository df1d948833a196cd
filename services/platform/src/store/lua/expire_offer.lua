-- expire_offer: an offer rang out (its durable timer fired, R6.5): every reservation is freed,
-- the agents it rang for go into the cooldown, and the conversation goes back to its queue.
-- KEYS[1] route:<conversation>
-- ARGV[2] conversation id, ARGV[3] offer id, ARGV[4] now (ms), ARGV[5] cooldown (ms)
-- Returns {'expired', skill, agent, ...} | {'gone'}.
local conversation, offer = ARGV[2], ARGV[3]
local r = redis.call('HMGET', KEYS[1], 'status', 'offer')
if r[1] ~= 'offered' or r[2] ~= offer then
  return { 'gone' }
end
local agents = offer_agents(KEYS[1])
for _, agent in ipairs(agents) do
  unreserve(agent, conversation)
  cool_down(conversation, agent, num(ARGV[4], 'now') + num(ARGV[5], 'cooldown'), ARGV[5])
end
explain(conversation, { at = ARGV[4], kind = 'expired', agent = table.concat(agents, ','), reason = 'offer_expired' })
local out = { 'expired', back_to_queue(KEYS[1], conversation) }
for _, agent in ipairs(agents) do
  out[#out + 1] = agent
end
return out
