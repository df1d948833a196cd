-- claim_best: the assignment decision and the arbiter in one step. Walks the skill's agent
-- index best first (rules::rank_member: lowest load ratio, then longest idle, R6.2/R6.3) and
-- gives the queued conversation to the first agent that is logged in, ONLINE and has room
-- (R6.1, R8.6). The agent that returned it (R6.4) is passed over while another can take it,
-- and gets it when none can.
-- KEYS[1] route:<conversation>, KEYS[2] conv:<conversation>, KEYS[3] queue:<skill>,
-- KEYS[4] active-skills, KEYS[5] unannounced, KEYS[6] avail:<skill, or the via skill>
-- ARGV[2] conversation id, ARGV[3] skill id, ARGV[4] weight (milli), ARGV[5] headroom (milli),
-- ARGV[6] now (ms), ARGV[7] how many index members to consider at most, ARGV[8] via skill
-- ('' for none: an agent of the skill), ARGV[9] the reason recorded when it moves to the via
-- skill (R5.7), ARGV[10] the consumer-history window (ms, '0' off: R6.2), ARGV[11] 'assign',
-- 'ring_one' or 'ring_all' (R6.5: an offer reserving capacity instead of an assignment),
-- ARGV[12] when the offer expires (ms), ARGV[13] the open-conversation cap ('0' none: R8.8,
-- rules::under_open_cap), ARGV[14..16] warm-up step, period, idle (ms; step '0': none, R8.12),
-- ARGV[17..] the agent groups that may take it,
-- preferred first (R6.8, R8.20; none: any agent). The agent who last
-- served the consumer within the window gets it first when it is eligible (R6.2 (3)). With a via skill the conversation queued on the skill goes to an agent of the
-- via skill and moves to it (fallback R5.1-R5.4, unassigned skill R4.5); with no agent there
-- able to take it nothing changes.
-- Returns {'claimed', agent, version} | {'offered', offer id, agent, ...} | {'gone'} |
-- {'none', agent, why, ...} with why one of 'full', 'avoided', 'other_group', 'rejected' and
-- 'unavailable' (the index and the record disagree: never expected).
local conversation, skill = ARGV[2], ARGV[3]

local route = redis.call('HMGET', KEYS[1], 'status', 'skill', 'avoid', 'suggested')
if route[1] ~= 'queued' or route[2] ~= skill then
  return { 'gone' }
end
if redis.call('HGET', KEYS[2], 'status') ~= 'open' then
  -- Closed (its release is on the way) or expired: it must not stay in the queue.
  redis.call('ZREM', KEYS[3], conversation)
  if redis.call('ZCARD', KEYS[3]) == 0 then
    redis.call('SREM', KEYS[4], skill)
  end
  return { 'gone' }
end
local avoid = route[3] or ''
local weight = num(ARGV[4], 'claim weight')
local headroom = num(ARGV[5], 'claim headroom')

-- rules::admit's warm-up state per agent considered, written for the agent that gets it.
local warm_of = {}
local via = ARGV[8]
local mode = ARGV[11]
local passed = { 'none' }

-- R6.5: ring instead of assign. Each agent's capacity is reserved (the offer counts in its
-- load) until an accept, a reject or the expiry; the conversation leaves the queue meanwhile.
local function offer(agents, how)
  local id = conversation .. ':' .. redis.call('HINCRBY', KEYS[1], 'offers', 1)
  for _, agent in ipairs(agents) do
    warm_write(agent, warm_of[agent])
    redis.call('HSET', key('agent-load', agent), conversation, ARGV[4])
    reindex_agent(agent)
  end
  local to = skill
  if via ~= '' then
    push_skill_step(KEYS[1], ARGV[6], ARGV[9], via)
    redis.call('HSET', KEYS[1], 'skill', via, 'reason', ARGV[9])
    to, how = via, ARGV[9]
  end
  redis.call('HSET', KEYS[1], 'status', 'offered', 'offer', id, 'offer_agents', table.concat(agents, ','),
    'offer_expires', ARGV[12])
  redis.call('ZREM', KEYS[3], conversation)
  if redis.call('ZCARD', KEYS[3]) == 0 then
    redis.call('SREM', KEYS[4], skill)
  end
  explain(conversation, { at = ARGV[6], kind = 'offered', skill = to, agent = table.concat(agents, ','),
    reason = how or 'best_agent', passed = passed_list(passed) })
  local out = { 'offered', id }
  for _, agent in ipairs(agents) do
    out[#out + 1] = agent
  end
  return out
end

local function give(agent, how)
  if mode == 'ring_one' or mode == 'ring_all' then
    return offer({ agent }, how)
  end
  warm_write(agent, warm_of[agent])
  local version = assign(KEYS[1], conversation, skill, agent, ARGV[4], ARGV[6], KEYS[3], KEYS[4], KEYS[5])
  remember_agent(KEYS[2], agent, ARGV[6], ARGV[10])
  local to, reason = skill, how or 'best_agent'
  if via ~= '' then
    push_skill_step(KEYS[1], ARGV[6], ARGV[9], via)
    redis.call('HSET', KEYS[1], 'skill', via, 'reason', ARGV[9])
    to, reason = via, ARGV[9]
  end
  explain(conversation, { at = ARGV[6], kind = 'assigned', skill = to, agent = agent, version = tostring(version),
    reason = reason, passed = passed_list(passed) })
  return { 'claimed', agent, version }
end

-- Group preference: rank[group] = its place in ARGV[13..]; no groups: every agent ranks 1.
local rank = {}
local grouped = #ARGV >= 17
for i = 17, #ARGV do
  rank[ARGV[i]] = i - 16
end
local function rejected(agent)
  local until_ms = redis.call('ZSCORE', key('rejected', conversation), agent)
  return until_ms and num(until_ms, 'rejected until') > num(ARGV[6], 'now')
end

local open_cap = num(ARGV[13], 'open cap')
local warmup = warmup_terms(14)
local now_ms = num(ARGV[6], 'now')
-- rules::admit for `agent`: nil when it may take it (its warm-up state kept for `give` and
-- `offer`), else why not ('full', 'warming_up').
local function refusal(agent, max)
  local why, warm = admit(agent, num(max, 'agent max conversations'), weight, headroom, open_cap, now_ms, warmup)
  warm_of[agent] = warm
  return why
end

-- R12.2: transferred to an agent: it rings or is assigned only for that agent, and only while
-- it is ONLINE (in this index) with room; nobody else until R12.6's timeout clears it.
local suggested = route[4] or ''
if suggested ~= '' and via == '' then
  local ix, max = unpack(redis.call('HMGET', key('agent', suggested), 'ix', 'max'))
  local why
  if not (ix and redis.call('ZSCORE', KEYS[6], ix)) then
    why = 'unavailable'
  else
    why = refusal(suggested, max)
  end
  if not why then
    return give(suggested, 'suggested_agent')
  end
  passed[#passed + 1] = suggested
  passed[#passed + 1] = why
  redis.call('HSET', KEYS[1], 'last_pass', cjson.encode({ at = ARGV[6], kind = 'waiting', skill = skill,
    reason = 'suggested_agent', passed = passed_list(passed) }))
  return passed
end

-- R6.2 (3): the consumer's last agent, when it could take it now: in this index (logged in,
-- ONLINE, holds the skill), in an allowed group, with room, not the agent it avoids.
local preferred = last_agent(KEYS[2], ARGV[6], ARGV[10])
if preferred and preferred ~= avoid and mode ~= 'ring_all' and not rejected(preferred) then
  local ix, max, group = unpack(redis.call('HMGET', key('agent', preferred), 'ix', 'max', 'group'))
  if ix and redis.call('ZSCORE', KEYS[6], ix) and (not grouped or rank[group or '']) and not refusal(preferred, max) then
    return give(preferred, 'consumer_history')
  end
end

local avoided = false
local best, best_rank = nil, nil
local ringing = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[6], 0, num(ARGV[7], 'scan') - 1)) do
  local agent = string.sub(member, 29)
  local state = redis.call('HMGET', key('agent', agent), 'logged_in', 'state', 'max', 'group')
  local r = 1
  if grouped then
    r = rank[state[4] or '']
  end
  local why
  local online = state[1] == '1' and state[2] == 'online'
  local refused = r and online and refusal(agent, state[3])
  if not r then
    why = 'other_group'
  elseif not online then
    why = 'unavailable'
  elseif refused then
    why = refused
  elseif rejected(agent) then
    why = 'rejected'
  elseif agent == avoid then
    why = 'avoided'
    avoided = true
  elseif mode == 'ring_all' then
    -- Every eligible agent rings at once; the first accept wins.
    ringing[#ringing + 1] = agent
  elseif r == 1 then
    return give(agent)
  elseif not best or r < best_rank then
    -- A cascade group (R6.8): taken only when no agent of an earlier group can.
    best, best_rank = agent, r
  end
  if why then
    passed[#passed + 1] = agent
    passed[#passed + 1] = why
  end
end
if #ringing > 0 then
  return offer(ringing)
end
if best then
  return give(best)
end
if avoided then
  return give(avoid)
end
-- The latest pass that found nobody, kept on the route (not logged: it repeats every pass).
local target = skill
if via ~= '' then
  target = via
end
redis.call('HSET', KEYS[1], 'last_pass', cjson.encode({ at = ARGV[6], kind = 'waiting', skill = target,
  passed = passed_list(passed) }))
return passed
