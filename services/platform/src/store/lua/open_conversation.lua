-- open_conversation: dedupe by partner message id (scoped to channel and consumer, for the
-- dedupe window), one open conversation per consumer, create.
-- KEYS[1] open-dedupe:<channel>|<consumer>|<partner message id> (string: conversation id;
-- unused when there is no partner message id), KEYS[2] consumer-open (hash consumer id ->
-- open conversation id), KEYS[3] conv:<new conversation id>, KEYS[4] consumer-seen:<consumer>
-- ARGV[2] partner message id ('' for none), ARGV[3] consumer id, ARGV[4] conversation id,
-- ARGV[5] channel, ARGV[6] skill id, ARGV[7] language, ARGV[8] opened at (ms),
-- ARGV[9] dedupe window (ms), ARGV[10] profile (JSON object), ARGV[11] consumer memory (ms),
-- ARGV[12] skill reason, ARGV[13] skill detail
-- Returns {'created', '1' when the consumer's first conversation} or {'existing', conversation
-- id, HGETALL of it}.
local partner, consumer, conversation = ARGV[2], ARGV[3], ARGV[4]

if partner ~= '' then
  local seen = redis.call('GET', KEYS[1])
  if seen then
    local record = redis.call('HGETALL', key('conv', seen))
    if #record > 0 then
      return { 'existing', seen, record }
    end
  end
end

local open = redis.call('HGET', KEYS[2], consumer)
if open then
  local record = redis.call('HGETALL', key('conv', open))
  if #record > 0 then
    if partner ~= '' then
      redis.call('SET', KEYS[1], open, 'PX', ARGV[9])
    end
    return { 'existing', open, record }
  end
end

-- R10.2: a consumer the account has not seen (within the consumer memory) is a first-timer.
local first = '0'
if redis.call('EXISTS', KEYS[4]) == 0 then
  first = '1'
end
redis.call('SET', KEYS[4], ARGV[8], 'PX', ARGV[11])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3],
  'consumer', consumer, 'channel', ARGV[5], 'skill', ARGV[6], 'language', ARGV[7],
  'status', 'open', 'opened_at', ARGV[8], 'closed_at', '0', 'v', RECORD_VERSION, 'pending', 'agent',
  'last_consumer_msg', '0', 'last_agent_msg', '0', 'waiting_since', ARGV[8], 'profile', ARGV[10], 'first', first,
  'skill_reason', ARGV[12], 'skill_detail', ARGV[13])
redis.call('HSET', KEYS[2], consumer, conversation)
if partner ~= '' then
  redis.call('SET', KEYS[1], conversation, 'PX', ARGV[9])
end
return { 'created', first }
