-- set_agent_session: login, logout, state. state_since moves when state or reason changes.
-- KEYS[1] agent:<id>
-- ARGV[2] logged in ('1'/'0'), ARGV[3] state, ARGV[4] away reason, ARGV[5] now (ms), ARGV[6] agent id
-- Returns 1 when applied, 0 when the agent does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local current = redis.call('HMGET', KEYS[1], 'state', 'away_reason')
if current[1] ~= ARGV[3] or (current[2] or '') ~= ARGV[4] then
  redis.call('HSET', KEYS[1], 'state_since', ARGV[5])
end
-- R8.12: a login arms the warm-up; the next claim starts it.
if ARGV[2] == '1' and redis.call('HGET', KEYS[1], 'logged_in') ~= '1' then
  redis.call('HSET', KEYS[1], 'warm_armed', '1')
end
redis.call('HSET', KEYS[1], 'logged_in', ARGV[2], 'state', ARGV[3], 'away_reason', ARGV[4])
connect_agent(ARGV[6], redis.call('LRANGE', key('agent-skills', ARGV[6]), 0, -1), ARGV[2] == '1')
reindex_agent(ARGV[6])
return 1
