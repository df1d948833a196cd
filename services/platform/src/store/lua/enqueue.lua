-- enqueue: queue an open conversation unless it already has a route (NX on the route). A new
-- conversation's response is due from its queue entry (no response-time SLAs yet).
-- KEYS[1] route:<conversation>, KEYS[2] queue:<skill> (sorted set, score = response due ms,
-- member = conversation id), KEYS[3] active-skills (set of skills with a non-empty queue),
-- KEYS[4] conv:<conversation>
-- ARGV[2] conversation id, ARGV[3] skill id, ARGV[4] queued at (ms)
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
  'queued_at', ARGV[4], 'reason', 'new', 'due', ARGV[4], 'requeued_version', '0')
push_skill_step(KEYS[1], ARGV[4], 'new', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return { 'queued' }
