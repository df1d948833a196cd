-- update_agent: replace the spec of an existing agent and move it between skill indexes.
-- KEYS[1] agent:<id>, KEYS[2] agent-skills:<id> (list)
-- ARGV[2] agent id, ARGV[3] max conversations, ARGV[4] bot ('1'/'0'), ARGV[5] group id, ARGV[6] nickname, ARGV[7..] skill ids
-- Returns 1 when updated, 0 when the agent does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
-- Out of the old skills' indexes first; reindex_agent puts it in the new ones.
local old_skills = redis.call('LRANGE', KEYS[2], 0, -1)
unindex_agent(ARGV[2], old_skills, redis.call('HGET', KEYS[1], 'ix'))
connect_agent(ARGV[2], old_skills, false)
redis.call('HDEL', KEYS[1], 'ix')
local keep = {}
for i = 7, #ARGV do
  keep[ARGV[i]] = true
end
for _, old in ipairs(old_skills) do
  if not keep[old] then
    redis.call('SREM', key('skill-agents', old), ARGV[2])
  end
end
redis.call('DEL', KEYS[2])
for i = 7, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  redis.call('SADD', key('skill-agents', ARGV[i]), ARGV[2])
end
redis.call('HSET', KEYS[1], 'max', ARGV[3], 'bot', ARGV[4], 'group', ARGV[5], 'nickname', ARGV[6])
local new_skills = {}
for i = 7, #ARGV do
  new_skills[#new_skills + 1] = ARGV[i]
end
connect_agent(ARGV[2], new_skills, redis.call('HGET', KEYS[1], 'logged_in') == '1')
reindex_agent(ARGV[2])
return 1
