-- replace_in_queue: a new place in its queue for a conversation queued on the skill (R10.3,
-- R10.4): one ZADD, never a rescan.
-- KEYS[1] route:<conversation>, KEYS[2] queue:<skill>
-- ARGV[2] conversation id, ARGV[3] skill id, ARGV[4] due (ms), ARGV[5] score, ARGV[6] actionable,
-- ARGV[7] sla, ARGV[8] velocity (milli), ARGV[9] now (ms)
-- Returns 1 when moved, 0 when it is not queued on that skill.
local route = redis.call('HMGET', KEYS[1], 'status', 'skill')
if route[1] ~= 'queued' or route[2] ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'due', ARGV[4], 'score', ARGV[5], 'actionable', ARGV[6], 'sla', ARGV[7],
  'velocity', ARGV[8])
redis.call('ZADD', KEYS[2], 'XX', ARGV[5], ARGV[2])
explain(ARGV[2], { at = ARGV[9], kind = 'moved', skill = ARGV[3], due = ARGV[4], score = ARGV[5],
  actionable = ARGV[6], sla = ARGV[7], velocity = ARGV[8], reason = 'consumer_message' })
return 1
