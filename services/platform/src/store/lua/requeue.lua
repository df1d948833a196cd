-- requeue: back to queue or transfer. Only from the assigned agent; frees it and queues the
-- conversation on the target skill, remembering the agent to avoid (R6.4) in the route.
-- KEYS[1] route:<conversation>, KEYS[2] agent-load:<from agent>, KEYS[3] queue:<to skill>,
-- KEYS[4] active-skills
-- ARGV[2] conversation id, ARGV[3] from agent id, ARGV[4] to skill id, ARGV[5] now (ms)
-- Returns 'requeued' | 'not_assigned'.
local route = redis.call('HMGET', KEYS[1], 'status', 'agent')
if route[1] ~= 'assigned' or route[2] ~= ARGV[3] then
  return 'not_assigned'
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'status', 'queued', 'skill', ARGV[4], 'queued_at', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[4])
return 'requeued'
