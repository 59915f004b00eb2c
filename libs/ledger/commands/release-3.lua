--[[
  Releases the jobs of a worker that went away (it stopped heartbeating or became unreachable):
  their leases run out now, so the next reaper run sends them again, and each keeps why as its
  last error (a WorkerLost, WireErrorName.WorkerLost in libs/protocol), which take-due-6.lua
  reads as "lost" and a dead letter shows.
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq by deadline
  KEYS[3] errors    hash seq -> last error JSON
  ARGV[1] the error JSON
  ARGV[2..] seqs
  Returns the number of jobs released (those still in flight).
]]
local released = 0
for i = 2, #ARGV do
  local seq = ARGV[i]
  if redis.call('HEXISTS', KEYS[1], seq) == 1 then
    redis.call('ZADD', KEYS[2], 0, seq)
    redis.call('HSET', KEYS[3], seq, ARGV[1])
    released = released + 1
  end
end
return released
