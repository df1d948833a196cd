-- set_participant: an agent joins an open conversation as a reader or manager (leaving any
-- other role), or leaves it. The lists are space-separated sorted ids (ids hold no spaces).
-- KEYS[1] conv:<id>
-- ARGV[2] agent id, ARGV[3] 'readers' | 'managers' | '' (leave)
-- Returns 'changed' | 'unchanged' | 'notfound' | 'not_open'.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'notfound'
end
if status ~= 'open' then
  return 'not_open'
end
local agent, role = ARGV[2], ARGV[3]
local changed = false
for _, field in ipairs({ 'readers', 'managers' }) do
  local ids = {}
  local had = false
  for id in string.gmatch(redis.call('HGET', KEYS[1], field) or '', '[^ ]+') do
    if id == agent then
      had = true
    else
      ids[#ids + 1] = id
    end
  end
  local wanted = field == role
  if wanted then
    ids[#ids + 1] = agent
    table.sort(ids)
  end
  if had ~= wanted then
    changed = true
    redis.call('HSET', KEYS[1], field, table.concat(ids, ' '))
  end
end
if changed then
  return 'changed'
end
return 'unchanged'
