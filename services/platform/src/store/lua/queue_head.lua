-- queue_head: the oldest entries of a queue with the agent each one should avoid.
-- Equal scores are ordered by member (conversation id), like a BTreeSet of (queued_at, id).
-- KEYS[1] queue:<skill>
-- ARGV[2] stop index (limit - 1)
-- Returns a flat list: conversation id, queued at (score), avoid agent id, ...
local items = redis.call('ZRANGE', KEYS[1], 0, ARGV[2], 'WITHSCORES')
local out = {}
for i = 1, #items, 2 do
  local conversation = items[i]
  out[#out + 1] = conversation
  out[#out + 1] = items[i + 1]
  out[#out + 1] = redis.call('HGET', key('route', conversation), 'agent') or ''
end
return out
