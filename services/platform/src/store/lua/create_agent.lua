-- create_agent: create unless it exists; index the agent under each of its skills.
-- KEYS[1] agent:<id>, KEYS[2] agent-skills:<id> (list), KEYS[3] agent-load:<id>
-- ARGV[2] agent id, ARGV[3] max conversations, ARGV[4] bot ('1'/'0'), ARGV[5] group id, ARGV[6] nickname, ARGV[7..] skill ids
-- Returns 1 when created, 0 when it already existed.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1],
  'max', ARGV[3], 'bot', ARGV[4], 'group', ARGV[5], 'nickname', ARGV[6], 'logged_in', '0', 'state', 'offline', 'away_reason', '',
  'state_since', '0', 'last_assigned', '0')
redis.call('DEL', KEYS[2], KEYS[3])
for i = 7, #ARGV do
  redis.call('RPUSH', KEYS[2], ARGV[i])
  redis.call('SADD', key('skill-agents', ARGV[i]), ARGV[2])
end
return 1
