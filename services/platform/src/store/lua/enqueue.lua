-- enqueue: queue an open conversation unless it already has a route (NX on the route), at the
-- placement the router computed (Placement: due time, score, actionable).
-- KEYS[1] route:<conversation>, KEYS[2] queue:<skill> (sorted set, score = placement score,
-- member = conversation id), KEYS[3] active-skills (set of skills with a non-empty queue),
-- KEYS[4] conv:<conversation>
-- ARGV[2] conversation id, ARGV[3] skill id, ARGV[4] queued at (ms), ARGV[5] due (ms),
-- ARGV[6] score, ARGV[7] actionable ('1'/'0'), ARGV[8] sla, ARGV[9] velocity (milli),
-- ARGV[10] agent group ('' for none)
-- Returns {'queued'} | {'unchanged', status} | {'not_open'}.
if redis.call('EXISTS', KEYS[1]) == 1 then
  local status = redis.call('HGET', KEYS[1], 'status')
  if not status then
    fail_corrupt('route without status')
  end
  return { 'unchanged', status }
end
if redis.call('HGET', KEYS[4], 'status') ~= 'open' then
  return { 'not_open' }
end
redis.call('HSET', KEYS[1],
  'v', RECORD_VERSION, 'skill', ARGV[3], 'status', 'queued', 'agent', '', 'avoid', '', 'version', '0',
  'queued_at', ARGV[4], 'reason', 'new', 'due', ARGV[5], 'score', ARGV[6], 'actionable', ARGV[7], 'sla', ARGV[8], 'velocity', ARGV[9], 'group', ARGV[10],
  'requeued_version', '0')
push_skill_step(KEYS[1], ARGV[4], 'new', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[2])
explain(ARGV[2], { at = ARGV[4], kind = 'queued', skill = ARGV[3], due = ARGV[5], score = ARGV[6],
  actionable = ARGV[7], sla = ARGV[8], velocity = ARGV[9], group = ARGV[10], reason = 'new' })
redis.call('SADD', KEYS[3], ARGV[3])
return { 'queued' }
