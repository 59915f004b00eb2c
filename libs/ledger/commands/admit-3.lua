--[[
  Write-ahead: puts dispatched jobs in the in-flight ledger with their lease, before they are sent.
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq, score = lease deadline (epoch ms)
  KEYS[3] meta      hash of the batch (status must not be "done" for the jobs to matter)
  ARGV[1] lease deadline (epoch ms)
  ARGV[2..] pairs: seq, "<attempt>|<payload JSON>"
  Returns the number of jobs written.
]]
local deadline = ARGV[1]
local fields, members = {}, {}
for i = 2, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  members[#members + 1] = deadline
  members[#members + 1] = ARGV[i]
end
if #fields == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], unpack(members))
return #fields / 2
