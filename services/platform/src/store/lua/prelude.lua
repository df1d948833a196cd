-- Prepended to every script by redis.rs, after MILLI (1000), RECORD_VERSION (the record layout version this
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

-- Why this agent (ExplainRouting): each routing decision about a conversation is appended to
-- its capped log, a list of JSON objects whose values are all strings (numbers as the caller
-- sent them: cjson would round a 16-digit score). It expires with the route (release.lua).
local EXPLAIN_LIMIT = 32
local function explain(conversation, entry)
  local log = key('explain', conversation)
  redis.call('RPUSH', log, cjson.encode(entry))
  redis.call('LTRIM', log, -EXPLAIN_LIMIT, -1)
end

-- The candidates a decision passed over, as "agent:why" strings.
local function passed_list(passed)
  local out = {}
  for i = 2, #passed, 2 do
    out[#out + 1] = passed[i] .. ':' .. passed[i + 1]
  end
  return out
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

-- The agent index (rules::rank_member): per skill (and '-1' for every agent, R4.4) a sorted set
-- of the logged-in ONLINE agents at score 0, members "<load ratio ppm:12>:<last assigned:14>:<id>",
-- so ZRANGE gives the best candidates first (R6.2, R6.3). The agent hash keeps its current member
-- in 'ix'. Every script that changes an agent's session, skills, max, load or last assignment
-- calls reindex_agent in the same step, so the index is never out of step with the records.
local function rank_member(agent_id, used, max, last)
  local denom = math.max(max * MILLI, 1)
  local ratio = math.floor(math.max(used, 0) * 1000000 / denom)
  if ratio > 999999999999 then
    ratio = 999999999999
  end
  if last < 0 then
    last = 0
  elseif last > 99999999999999 then
    last = 99999999999999
  end
  return string.format('%012d:%014d:%s', ratio, last, agent_id)
end

local function agent_used(agent_id)
  local used = 0
  for _, w in ipairs(redis.call('HVALS', key('agent-load', agent_id))) do
    used = used + num(w, 'agent load weight')
  end
  return used
end

-- R8.12-R8.14 (rules::warm_check; the shared cases WARM_CASES pin the two): nil when the
-- weighted rule decides; false while the warm-up allowance is used; else {from, taken}, the
-- state to store when the agent gets the conversation. `warmup` is {step, period, idle} (ms),
-- a step of 0 meaning no warm-up.
local function warm_check(agent, held, max, now, warmup)
  local step, period, idle = warmup[1], warmup[2], warmup[3]
  if step <= 0 then
    return nil
  end
  local f = redis.call('HMGET', key('agent', agent), 'warm_armed', 'warm_from', 'warm_taken', 'last_assigned')
  local armed = f[1] == '1'
  local from = num(f[2] or '0', 'agent warm_from')
  local taken = num(f[3] or '0', 'agent warm_taken')
  local last = num(f[4] or '0', 'agent last assigned')
  if not (from > 0 and now < from + period) then
    if not (armed or last <= 0 or now - last >= idle) then
      return nil
    end
    from, taken = now, 0
  end
  if held >= max then
    return nil
  end
  if taken >= 1 + math.floor((now - from) / step) then
    return false
  end
  return { from, taken + 1 }
end

-- rules::admit: whether the agent may take one more conversation of `weight`: the open cap
-- (R8.8), then warm-up (counted: quiet conversations make no room, R8.12), and always the
-- weighted limit (R8.6, invariant 2).
-- Returns nil and the warm-up state to store (or nil) when it may; else 'full' or 'warming_up'.
local function admit(agent, max, weight, headroom, cap, now, warmup)
  local held = redis.call('HLEN', key('agent-load', agent))
  if cap > 0 and held >= cap then
    return 'full'
  end
  local warm = warm_check(agent, held, max, now, warmup)
  if warm == false then
    return 'warming_up'
  end
  if agent_used(agent) + weight > max * MILLI + headroom then
    return 'full'
  end
  return nil, warm
end

-- Stores the warm-up state `admit` gave for an agent that gets the conversation.
local function warm_write(agent, warm)
  if warm then
    redis.call('HSET', key('agent', agent), 'warm_armed', '0', 'warm_from', warm[1], 'warm_taken', warm[2])
  end
end

-- The warm-up terms of a claim from three arguments starting at ARGV[i].
local function warmup_terms(i)
  return { num(ARGV[i], 'warm-up step'), num(ARGV[i + 1], 'warm-up period'), num(ARGV[i + 2], 'warm-up idle') }
end

-- Drops the agent's member from the index of each of `skills` (and '-1').
local function unindex_agent(agent_id, skills, member)
  if not member then
    return
  end
  for _, skill in ipairs(skills) do
    redis.call('ZREM', key('avail', skill), member)
  end
  redis.call('ZREM', key('avail', '-1'), member)
end

local function reindex_agent(agent_id)
  local agent = key('agent', agent_id)
  local f = redis.call('HMGET', agent, 'logged_in', 'state', 'max', 'last_assigned', 'ix')
  local skills = redis.call('LRANGE', key('agent-skills', agent_id), 0, -1)
  local member = false
  if f[1] == '1' and f[2] == 'online' then
    member = rank_member(agent_id, agent_used(agent_id), num(f[3], 'agent max conversations'),
      num(f[4] or '0', 'agent last assigned'))
  end
  if f[5] == member then
    return
  end
  unindex_agent(agent_id, skills, f[5])
  if member then
    for _, skill in ipairs(skills) do
      redis.call('ZADD', key('avail', skill), 0, member)
    end
    redis.call('ZADD', key('avail', '-1'), 0, member)
    redis.call('HSET', agent, 'ix', member)
  else
    redis.call('HDEL', agent, 'ix')
  end
end

-- R5.5: per skill (and '-1') the set of logged-in agents holding it, whatever their state, so a
-- pass can tell "all away" from "all logged out" with one SCARD. Changed only on login, logout
-- and skill changes.
local function connect_agent(agent_id, skills, logged_in)
  local op = 'SREM'
  if logged_in then
    op = 'SADD'
  end
  for _, skill in ipairs(skills) do
    redis.call(op, key('connected', skill), agent_id)
  end
  redis.call(op, key('connected', '-1'), agent_id)
end

-- R6.2 (3): who served the consumer of `conv_key` last and when, kept for the history window
-- (ms; '0': the preference is off and nothing is kept).
local function remember_agent(conv_key, agent, now, window)
  if window == '0' or window == '' then
    return
  end
  local consumer = redis.call('HGET', conv_key, 'consumer')
  if consumer then
    redis.call('SET', key('consumer-agent', consumer), agent .. ' ' .. now, 'PX', window)
  end
end

-- The agent who last served the consumer of `conv_key` within the window, or nil.
local function last_agent(conv_key, now, window)
  if window == '0' or window == '' then
    return nil
  end
  local consumer = redis.call('HGET', conv_key, 'consumer')
  local last = consumer and redis.call('GET', key('consumer-agent', consumer))
  if not last then
    return nil
  end
  local agent, at = string.match(last, '^(%S+) (%d+)$')
  if agent and num(now, 'now') - num(at, 'served at') <= num(window, 'history window') then
    return agent
  end
  return nil
end

-- R6.5 offers: the agents an offer rings for, as a list.
local function offer_agents(route)
  local agents = {}
  for agent in string.gmatch(redis.call('HGET', route, 'offer_agents') or '', '[^,]+') do
    agents[#agents + 1] = agent
  end
  return agents
end

-- Frees the capacity an offer reserved on `agent`.
local function unreserve(agent, conversation)
  redis.call('HDEL', key('agent-load', agent), conversation)
  reindex_agent(agent)
end

-- An agent that rejected an offer (or let it ring out) is not offered the conversation again
-- until `until_ms`; the set expires with the last cooldown.
local function cool_down(conversation, agent, until_ms, cooldown)
  if num(cooldown, 'reject cooldown') <= 0 then
    return
  end
  local rejected = key('rejected', conversation)
  redis.call('ZADD', rejected, until_ms, agent)
  redis.call('PEXPIRE', rejected, cooldown)
end

-- An offered conversation goes back to its queue at the place it had (R6.5: to the next best).
local function back_to_queue(route, conversation)
  local r = redis.call('HMGET', route, 'skill', 'score')
  redis.call('HSET', route, 'status', 'queued')
  redis.call('HDEL', route, 'offer', 'offer_agents', 'offer_expires')
  redis.call('ZADD', key('queue', r[1]), r[2] or '0', conversation)
  redis.call('SADD', ARGV[1] .. 'active-skills', r[1])
  return r[1]
end

-- Gives the queued conversation to the agent: the agent's load counts it, the route says
-- assigned, it leaves the queue and is pending announcement (the arbiter's write half; the
-- caller has checked everything).
local function assign(route, conversation, skill, agent, weight, now, queue, active, unannounced)
  redis.call('HSET', key('agent-load', agent), conversation, weight)
  redis.call('HSET', key('agent', agent), 'last_assigned', now)
  reindex_agent(agent)
  local version = redis.call('HINCRBY', route, 'version', 1)
  redis.call('HSET', route, 'status', 'assigned', 'agent', agent, 'avoid', '', 'assigned_at', now)
  redis.call('ZREM', queue, conversation)
  if redis.call('ZCARD', queue) == 0 then
    redis.call('SREM', active, skill)
  end
  redis.call('ZADD', unannounced, now, conversation)
  return version
end
