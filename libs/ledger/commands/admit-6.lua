--[[
  Write-ahead: puts dispatched jobs in the in-flight ledger with their lease, before they are sent.
  A job that already has a result or is a dead letter is skipped: a redelivery taken by the reaper
  whose late result was recorded before it left must not go back in flight (it would be sent
  again and again until it became a dead letter too, counted twice in recorded + dead).
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq, score = lease deadline (epoch ms)
  KEYS[3] meta      hash of the batch: a cancelled one (cancelledAt) takes no job
  KEYS[4] results   hash seq -> result value JSON
  KEYS[5] dead      hash seq -> "<attempt>|<payload JSON>"
  KEYS[6] cancelled hash seq -> epoch ms: jobs cancelled one by one (cancel-7.lua)
  ARGV[1] lease deadline (epoch ms)
  ARGV[2] "1" to skip jobs already recorded, dead or cancelled (redeliveries, resumed batches,
          single jobs); "0" for fresh jobs of a batch, which cannot be any of these (HEXISTS
          a job saved)
  ARGV[3..] pairs: seq, "<attempt>|<payload JSON>"
  Returns the seqs skipped (already recorded, dead or cancelled): the ventilator must not send them.
]]
local deadline = ARGV[1]
local recheck = ARGV[2] == '1'
local results, dead, cancelled = KEYS[4], KEYS[5], KEYS[6]
local fields, members, skipped = {}, {}, {}
if redis.call('HEXISTS', KEYS[3], 'cancelledAt') == 1 then
  for i = 3, #ARGV, 2 do skipped[#skipped + 1] = ARGV[i] end
  return skipped
end
local anyCancelled = recheck and redis.call('EXISTS', cancelled) == 1
for i = 3, #ARGV, 2 do
  local seq = ARGV[i]
  if
    not recheck
    or (
      redis.call('HEXISTS', results, seq) == 0
      and redis.call('HEXISTS', dead, seq) == 0
      and not (anyCancelled and redis.call('HEXISTS', cancelled, seq) == 1)
    )
  then
    fields[#fields + 1] = seq
    fields[#fields + 1] = ARGV[i + 1]
    members[#members + 1] = deadline
    members[#members + 1] = seq
  else
    skipped[#skipped + 1] = seq
  end
end
if #fields > 0 then
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('ZADD', KEYS[2], unpack(members))
end
return skipped
