--[[
  Sends dead letters round again: each goes back in flight with its attempts reset and is due at
  once, and its batch is running again.
  KEYS[1] dead, KEYS[2] inflight, KEYS[3] leases, KEYS[4] errors, KEYS[5] meta, KEYS[6] active
  ARGV[1] batch id; ARGV[2..] seqs (none: every dead letter of the batch)
  Returns the number of jobs sent round again.
]]
local seqs = {}
if #ARGV > 1 then
  for i = 2, #ARGV do seqs[#seqs + 1] = ARGV[i] end
else
  seqs = redis.call('HKEYS', KEYS[1])
end
local moved = 0
for _, seq in ipairs(seqs) do
  local job = redis.call('HGET', KEYS[1], seq)
  if job then
    redis.call('HDEL', KEYS[1], seq)
    local bar = string.find(job, '|', 1, true)
    redis.call('HSET', KEYS[2], seq, '0' .. string.sub(job, bar))
    redis.call('ZADD', KEYS[3], 0, seq)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[5], 'dead', -moved)
  redis.call('HSET', KEYS[5], 'status', 'running')
  redis.call('HDEL', KEYS[5], 'summary', 'finishedAt')
  redis.call('SADD', KEYS[6], ARGV[1])
end
return moved
