-- queue_head: the first entries of a queue (lowest score first: R9.2, R9.3) with when each
-- entered the queue, its due time, whether it is actionable and the agent it should avoid
-- (R6.4). Equal scores are ordered by member (conversation id), like a BTreeSet of (score, id).
-- KEYS[1] queue:<skill>
-- ARGV[2] stop index (limit - 1)
-- Returns a flat list: conversation id, score, queued at, due, actionable, sla, velocity, avoid
-- agent id, reason, agent group, suggested agent, ...
local items = redis.call('ZRANGE', KEYS[1], 0, ARGV[2], 'WITHSCORES')
local out = {}
for i = 1, #items, 2 do
  local conversation = items[i]
  local route = redis.call('HMGET', key('route', conversation), 'queued_at', 'avoid', 'agent', 'v', 'due', 'actionable',
    'sla', 'velocity', 'reason', 'group', 'suggested')
  local avoid = route[2]
  if not route[4] then
    -- Written before versioning: a queued route's agent was the one to avoid.
    avoid = route[3]
  end
  out[#out + 1] = conversation
  out[#out + 1] = items[i + 1]
  out[#out + 1] = route[1] or items[i + 1]
  -- Written before placements: the score was the due time.
  out[#out + 1] = route[5] or items[i + 1]
  out[#out + 1] = route[6] or '1'
  out[#out + 1] = route[7] or ''
  out[#out + 1] = route[8] or '1000'
  out[#out + 1] = avoid or ''
  out[#out + 1] = route[9] or 'new'
  out[#out + 1] = route[10] or ''
  out[#out + 1] = route[11] or ''
end
return out
