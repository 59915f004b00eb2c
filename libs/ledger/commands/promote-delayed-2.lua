--[[
  Puts the delayed jobs that are due on the job stream (see add-jobs-5.lua), oldest first.
  KEYS[1] delayed  zset: "<bucket>|<seq>|<priority>|<payload JSON>" by run-at (epoch ms)
  KEYS[2] stream
  ARGV[1] now (epoch ms)
  ARGV[2] jobs moved at most
  Returns how many it moved.
]]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, entry in ipairs(due) do
  local bucket, seq, priority, payload = string.match(entry, '^([^|]*)|(%d+)|(%d*)|(.*)$')
  if priority ~= '' then
    redis.call('XADD', KEYS[2], '*', 'b', bucket, 's', seq, 'p', payload, 'r', priority)
  else
    redis.call('XADD', KEYS[2], '*', 'b', bucket, 's', seq, 'p', payload)
  end
  redis.call('ZREM', KEYS[1], entry)
end
return #due
