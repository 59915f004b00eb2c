--[[
  The reaper: takes jobs whose lease ran out (a worker died, a result was lost) or whose retry
  backoff is over, raises their attempt and reserves them for redelivery. A job out of attempts
  becomes a dead letter instead.
  A job whose last delivery ended without a result is *lost*, unlike one whose handler failed and
  is retried: its last error is missing (the lease ran out: it becomes LeaseExpired here) or says
  so (WorkerLost, from release-3.lua, or LeaseExpired). A lost job may be what killed its worker:
  the ventilator sends it alone (see apps/ventilator/src/isolation.ts).
  WorkerLost and LeaseExpired are WireErrorName values (libs/protocol/src/wire-error-name.ts),
  written here as literals; libs/ledger/src/lua-error-names.test.ts keeps them equal.
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq by deadline
  KEYS[3] dead      hash seq -> "<attempt>|<payload JSON>"
  KEYS[4] errors    hash seq -> last error JSON
  KEYS[5] meta      hash of the batch: dead counter; cancelledAt when the batch was cancelled
  KEYS[6] cancelled hash seq -> epoch ms: jobs cancelled one by one (cancel-7.lua)
  ARGV[1] now (epoch ms)
  ARGV[2] most jobs to take
  ARGV[3] reservation deadline: the job is due again then if it was never re-dispatched
  ARGV[4] max attempts
  Returns { dead-lettered count, seq1, job1, lost1, seq2, job2, lost2, ... } with jobs as
  "<attempt>|<payload JSON>" and lost as 1 or 0.
]]
--- @include "split-entry"
local inflight, leases, dead, errors, meta, cancelled = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local maxAttempts = tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', leases, '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = { 0 }
-- What was cancelled goes nowhere: jobs that left before the ventilator heard of it leave here.
local batchCancelled = redis.call('HEXISTS', meta, 'cancelledAt') == 1
local anyCancelled = redis.call('EXISTS', cancelled) == 1
local deadCount = 0
local function lostError(json)
  local ok, decoded = pcall(cjson.decode, json)
  return ok and type(decoded) == 'table' and (decoded.name == 'WorkerLost' or decoded.name == 'LeaseExpired')
end
for _, seq in ipairs(due) do
  local job = redis.call('HGET', inflight, seq)
  if batchCancelled or (anyCancelled and redis.call('HEXISTS', cancelled, seq) == 1) then
    redis.call('HDEL', inflight, seq)
    job = nil
  end
  if not job then
    redis.call('ZREM', leases, seq)
  else
    local attempt, rest = splitEntry(job)
    local lastError = redis.call('HGET', errors, seq)
    local lost = 0
    if not lastError then
      -- Attempt 0 is a dead letter sent round again (retry-dead-6.lua): never delivered since.
      if attempt > 0 then
        redis.call('HSET', errors, seq, cjson.encode({ name = 'LeaseExpired', message = 'no result within the lease of attempt ' .. attempt }))
        lost = 1
      end
    elseif lostError(lastError) then
      lost = 1
    end
    if attempt >= maxAttempts then
      redis.call('HDEL', inflight, seq)
      redis.call('ZREM', leases, seq)
      redis.call('HSET', dead, seq, job)
      deadCount = deadCount + 1
    else
      local next = (attempt + 1) .. rest
      redis.call('HSET', inflight, seq, next)
      redis.call('ZADD', leases, ARGV[3], seq)
      out[#out + 1] = seq
      out[#out + 1] = next
      out[#out + 1] = lost
    end
  end
end
if deadCount > 0 then redis.call('HINCRBY', meta, 'dead', deadCount) end
out[1] = deadCount
return out
