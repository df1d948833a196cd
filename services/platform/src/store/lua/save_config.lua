-- save_config: compare and set of a configuration document and its revision.
-- KEYS[1] the document's hash (fields 'rev', 'doc')
-- ARGV[2] the revision the caller read (0: never saved), ARGV[3] the new document
-- Returns {'saved', new revision} | {'conflict', stored revision}.
local current = num(redis.call('HGET', KEYS[1], 'rev') or '0', 'config revision')
if current ~= num(ARGV[2], 'expected revision') then
  return { 'conflict', current }
end
redis.call('HSET', KEYS[1], 'rev', current + 1, 'doc', ARGV[3])
return { 'saved', current + 1 }
