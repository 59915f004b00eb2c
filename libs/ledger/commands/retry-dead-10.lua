--[[
  Sends dead letters round again: each goes back in flight with its attempts reset and is due at
  once, and its batch is running again. A done batch's keys carry an expiry (its retention, see
  complete-10.lua); running again, the batch keeps every key until it is done anew, when the
  completion sets the expiry again: nothing of it, its results included, expires meanwhile.
  Every key is the batch's (one hash slot). The pipeline's active set is another slot: the caller
  adds the batch to it before this runs and again after (RedisLedger.retryDead), so the reapers
  find the batch whatever completes it meanwhile.
  KEYS[1] dead, KEYS[2] inflight, KEYS[3] leases, KEYS[4] errors, KEYS[5] meta
  KEYS[6] results   the other keys of the batch, whose expiry is removed (PERSIST)
  KEYS[7] workers
  KEYS[8] submitted
  KEYS[9] packs
  KEYS[10] cancelled
  ARGV seqs (none: every dead letter of the batch)
  Returns the number of jobs sent round again: none for a cancelled batch (commands/cancel-7.lua).
]]
--- @include "split-entry"
-- A cancelled batch stays cancelled: what it left undone never runs.
if redis.call('HEXISTS', KEYS[5], 'cancelledAt') == 1 then return 0 end
local seqs = ARGV
if #seqs == 0 then seqs = redis.call('HKEYS', KEYS[1]) end
local moved = 0
for _, seq in ipairs(seqs) do
  local job = redis.call('HGET', KEYS[1], seq)
  if job then
    redis.call('HDEL', KEYS[1], seq)
    local _, rest = splitEntry(job)
    redis.call('HSET', KEYS[2], seq, '0' .. rest)
    redis.call('ZADD', KEYS[3], 0, seq)
    moved = moved + 1
  end
end
if moved > 0 then
  redis.call('HINCRBY', KEYS[5], 'dead', -moved)
  redis.call('HSET', KEYS[5], 'status', 'running')
  redis.call('HDEL', KEYS[5], 'summary', 'finishedAt')
  for i = 1, #KEYS do
    redis.call('PERSIST', KEYS[i])
  end
end
return moved
