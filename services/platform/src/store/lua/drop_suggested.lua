-- drop_suggested: R12.6, the suggested agent of a queued conversation did not take it within
-- the maximum wait: any agent of its skill may now; recorded on the skill path with reason
-- 'suggested_agent_timeout'.
-- KEYS[1] route:<conversation>
-- ARGV[2] conversation id, ARGV[3] now (ms)
-- Returns the skill, or false when it has no suggested agent any more.
local r = redis.call('HMGET', KEYS[1], 'status', 'skill', 'suggested')
if r[1] ~= 'queued' or (r[3] or '') == '' then
  return false
end
redis.call('HSET', KEYS[1], 'suggested', '', 'reason', 'suggested_agent_timeout')
push_skill_step(KEYS[1], ARGV[3], 'suggested_agent_timeout', r[2])
explain(ARGV[2], { at = ARGV[3], kind = 'moved', skill = r[2], agent = r[3], reason = 'suggested_agent_timeout' })
return r[2]
