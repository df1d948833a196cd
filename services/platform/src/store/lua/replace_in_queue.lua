-- replace_in_queue: a new place for a conversation of the skill (R10.3, R10.4, R10.8): one
-- ZADD when it is queued, never a rescan; an offered or assigned one (unless ARGV[11] says
-- queued only) keeps the placement for when it returns to a queue.
-- KEYS[1] route:<conversation>, KEYS[2] queue:<skill>
-- ARGV[2] conversation id, ARGV[3] skill id, ARGV[4] due (ms), ARGV[5] score, ARGV[6] actionable,
-- ARGV[7] sla, ARGV[8] velocity (milli), ARGV[9] now (ms), ARGV[10] reason, ARGV[11] '1': queued only
-- Returns 1 when placed, 0 when it is not (queued) on that skill.
local route = redis.call('HMGET', KEYS[1], 'status', 'skill')
local queued = route[1] == 'queued'
local held = route[1] == 'offered' or route[1] == 'assigned'
if route[2] ~= ARGV[3] or not (queued or (held and ARGV[11] ~= '1')) then
  return 0
end
redis.call('HSET', KEYS[1], 'due', ARGV[4], 'score', ARGV[5], 'actionable', ARGV[6], 'sla', ARGV[7],
  'velocity', ARGV[8])
if queued then
  redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[2])
end
explain(ARGV[2], { at = ARGV[9], kind = 'moved', skill = ARGV[3], due = ARGV[4], score = ARGV[5],
  actionable = ARGV[6], sla = ARGV[7], velocity = ARGV[8], reason = ARGV[10] })
return 1
