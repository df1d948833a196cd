-- claim: the arbiter (architecture section 4). Checks and changes the route, the queue and
-- the agent's load in one step.
-- KEYS[1] route:<conversation>, KEYS[2] conv:<conversation>, KEYS[3] agent:<agent>,
-- KEYS[4] agent-skills:<agent>, KEYS[5] agent-load:<agent> (hash conversation -> weight),
-- KEYS[6] queue:<skill>, KEYS[7] active-skills, KEYS[8] unannounced (sorted set
-- conversation -> claimed at: assignments whose event is not confirmed yet)
-- ARGV[2] conversation id, ARGV[3] skill id, ARGV[4] agent id, ARGV[5] weight (milli),
-- ARGV[6] headroom (milli), ARGV[7] now (ms), ARGV[8] milli per conversation (1000),
-- ARGV[9] consumer-history window (ms, '0' off: R6.2), ARGV[10] open-conversation cap ('0' none:
-- R8.8, rules::under_open_cap), ARGV[11..13] warm-up step, period, idle (ms; step '0': none, R8.12)
-- Returns {'gone'} | {'unavailable'} | {'full'} | {'claimed', version}.
local conversation, skill, agent = ARGV[2], ARGV[3], ARGV[4]

local route = redis.call('HMGET', KEYS[1], 'status', 'skill', 'suggested')
if route[1] ~= 'queued' or route[2] ~= skill then
  return { 'gone' }
end
-- R12.2: transferred to another agent, who alone may take it (until R12.6's timeout).
if (route[3] or '') ~= '' and route[3] ~= agent then
  return { 'unavailable' }
end
if redis.call('HGET', KEYS[2], 'status') ~= 'open' then
  -- Closed (its release is on the way) or expired: it must not stay in the queue.
  redis.call('ZREM', KEYS[6], conversation)
  if redis.call('ZCARD', KEYS[6]) == 0 then
    redis.call('SREM', KEYS[7], skill)
  end
  return { 'gone' }
end

if redis.call('EXISTS', KEYS[3]) == 0 then
  return { 'unavailable' }
end
local state = redis.call('HMGET', KEYS[3], 'logged_in', 'state', 'max')
if state[1] ~= '1' or state[2] ~= 'online' then
  return { 'unavailable' }
end
-- The unassigned skill '-1' is any agent's (R4.4).
local has_skill = skill == '-1'
for _, held in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
  if held == skill then
    has_skill = true
    break
  end
end
if not has_skill then
  return { 'unavailable' }
end

-- Domain R8.6, R8.8, R8.12: rules::admit.
local now = num(ARGV[7], 'now')
local why, warm = admit(agent, num(state[3], 'agent max conversations'), num(ARGV[5], 'claim weight'),
  num(ARGV[6], 'claim headroom'), num(ARGV[10], 'open cap'), now, warmup_terms(11))
if why then
  return { 'full' }
end

warm_write(agent, warm)
local version = assign(KEYS[1], conversation, skill, agent, ARGV[5], ARGV[7], KEYS[6], KEYS[7], KEYS[8])
remember_agent(KEYS[2], agent, ARGV[7], ARGV[9])
explain(conversation, { at = ARGV[7], kind = 'assigned', skill = skill, agent = agent, version = tostring(version),
  reason = 'agent_available' })
return { 'claimed', version }
