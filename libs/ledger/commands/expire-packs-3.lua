--[[
  Part of the reaper, run before take-due: a pack lease that ran out becomes a lease of its own
  for each of its jobs still in flight, due when the pack was; take-due then handles them as any
  other. A job that has a lease of its own already (a failure waiting for its retry, a release,
  a redelivery) follows that one, not its pack's.
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq by deadline
  KEYS[3] packs     zset "<first seq>:<count>" by deadline: one lease for a pack of fresh jobs
                    written ahead together (see RedisLedger.admit)
  ARGV[1] now (epoch ms)
  ARGV[2] most packs to expire in this call
  Returns how many packs it expired (fewer than ARGV[2]: none is left due).
]]
local inflight, leases, packs = KEYS[1], KEYS[2], KEYS[3]
local due = redis.call('ZRANGEBYSCORE', packs, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
for i = 1, #due, 2 do
  local pack, deadline = due[i], due[i + 1]
  local colon = string.find(pack, ':', 1, true)
  local first, count = tonumber(string.sub(pack, 1, colon - 1)), tonumber(string.sub(pack, colon + 1))
  local seqs = {}
  for seq = first, first + count - 1 do seqs[#seqs + 1] = seq end
  -- Most jobs of a pack have their result by then: one HMGET finds the few that have not.
  local jobs = redis.call('HMGET', inflight, unpack(seqs))
  for n = 1, count do
    if jobs[n] and not redis.call('ZSCORE', leases, seqs[n]) then redis.call('ZADD', leases, deadline, seqs[n]) end
  end
  redis.call('ZREM', packs, pack)
end
return #due / 2
