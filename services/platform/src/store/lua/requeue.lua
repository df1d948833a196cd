-- requeue: back to queue, transfer, logout. Only from the assigned agent at the given
-- assignment version (0: any); frees it and queues the conversation on the target skill,
-- remembering the agent to avoid (R6.4), why it entered the queue, a skill change (R5.7) and
-- the version returned, so that a redelivered command is recognised instead of requeuing
-- twice. The response due time (the queue score) restarts when ARGV[8] says so (R10.6) and is
-- kept otherwise.
-- KEYS[1] route:<conversation>, KEYS[2] agent-load:<from agent>, KEYS[3] queue:<to skill>,
-- KEYS[4] active-skills
-- ARGV[2] conversation id, ARGV[3] from agent id, ARGV[4] to skill id, ARGV[5] now (ms),
-- ARGV[6] assignment version (0: any), ARGV[7] reason, ARGV[8] '1' to restart the due time,
-- ARGV[9] '1' when ARGV[10..15] (due, score, actionable, sla, velocity, agent group) give the
-- placement (else ordered by due, the group kept), ARGV[16] the suggested agent ('' none, R12.2)
-- Returns 'requeued' | 'already' | 'not_assigned' | 'closed'.
local route = redis.call('HMGET', KEYS[1], 'status', 'agent', 'version', 'requeued_version', 'skill', 'due',
  'queued_at')
local status, agent, version, requeued = route[1], route[2], route[3], route[4] or '0'
if status == false then
  return 'not_assigned'
end
if status == 'closed' then
  return 'closed'
end
local want = ARGV[6]
if not (status == 'assigned' and agent == ARGV[3] and (want == '0' or version == want)) then
  if want ~= '0' and requeued == want then
    return 'already'
  end
  return 'not_assigned'
end
local now = ARGV[5]
-- A record written before versioning has no due time: its queue entry was its score.
local due = route[6] or route[7] or now
if ARGV[8] == '1' then
  due = now
end
local score, actionable, sla, velocity = due, '1', '', '1000'
if ARGV[9] == '1' then
  due, score, actionable, sla, velocity = ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14]
  redis.call('HSET', KEYS[1], 'group', ARGV[15])
end
if ARGV[7] == 'transfer' then
  redis.call('HINCRBY', KEYS[1], 'transfers', 1)
end
if route[5] ~= ARGV[4] then
  push_skill_step(KEYS[1], now, ARGV[7], ARGV[4])
end
redis.call('HDEL', KEYS[2], ARGV[2])
reindex_agent(ARGV[3])
redis.call('HSET', KEYS[1], 'v', RECORD_VERSION, 'status', 'queued', 'skill', ARGV[4], 'agent', '',
  'avoid', ARGV[3], 'queued_at', now, 'reason', ARGV[7], 'due', due, 'score', score, 'actionable', actionable,
  'sla', sla, 'velocity', velocity, 'requeued_version', version, 'suggested', ARGV[16] or '')
redis.call('ZADD', KEYS[3], score, ARGV[2])
explain(ARGV[2], { at = now, kind = 'queued', skill = ARGV[4], due = due, score = score, actionable = actionable,
  sla = sla, velocity = velocity, reason = ARGV[7], agent = ARGV[3],
  group = redis.call('HGET', KEYS[1], 'group') or '' })
redis.call('SADD', KEYS[4], ARGV[4])
return 'requeued'
