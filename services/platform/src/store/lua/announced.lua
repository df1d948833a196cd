-- announced: confirms that assignment ARGV[3] of conversation ARGV[2] was published. A newer
-- claim (higher version) stays pending. A route that does not exist counts as version 0.
-- KEYS[1] route:<conversation>, KEYS[2] unannounced
-- Returns 1 when the entry left the pending set, else 0.
local version = redis.call('HGET', KEYS[1], 'version')
if version == false then
  version = '0'
end
if version == ARGV[3] then
  return redis.call('ZREM', KEYS[2], ARGV[2])
end
return 0
