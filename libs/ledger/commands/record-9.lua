--[[
  Records results, each exactly once: removes the job from the ledger and stores its result in one
  step. A failed result is retried (the lease becomes the backoff) while the pipeline allows
  retries, and becomes a dead letter after; at once when its error says `"retryable": false` (the
  handler threw a NonRetryableError: PROTOCOL.md 3.2, "Failures not to retry").
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq by deadline
  KEYS[3] results   hash seq -> result value JSON
  KEYS[4] dead      hash seq -> "<attempt>|<payload JSON>" (as it left the ledger)
  KEYS[5] errors    hash seq -> last error JSON
  KEYS[6] meta      hash: total, recorded, dead, status, topSeq (the highest seq recorded while
                    the total was unknown: end-batch-2.lua removes what lies past the end)
  KEYS[7] workers   hash worker -> results recorded from it
  KEYS[8] call      string: this call's outcomes, kept for ARGV[5] ms. A client whose connection
                    dropped before the reply resends the call; the second run must answer what
                    the first one did (otherwise its results would come back as duplicates, and
                    the sink would not fold them into the batch's answer).
  KEYS[9] cancelled hash seq -> epoch ms: jobs cancelled one by one (cancel-7.lua)
  ARGV[1] worker id
  ARGV[2] retries allowed after a failure (0: the first failure is final)
  ARGV[3] now (epoch ms)
  ARGV[4] retry backoff base in ms (doubles per attempt; see backoffOf below)
  ARGV[5] how long to remember this call's outcomes, in ms
  ARGV[6] the results as one JSON array of quads: seq (a string), attempt, ok (1 or 0), and the
          value JSON or error JSON (a string). One argument rather than four per result: what
          ioredis does per argument was a fifth of the sink's CPU.
  ARGV[7] retry backoff cap in ms ('' for none)
  ARGV[8] jitter seed, an integer 0 .. 2^31-1 drawn by the caller for this call ('' for no jitter:
          each retry waits the least of its window, as before jitter)
  ARGV[9] '1' for a bucket of single jobs: a success is recorded only for a job in flight. A
          bucket's write-ahead that Redis lost comes back from the job stream (its entry is
          acknowledged after it), while its seqs go to new jobs: the late result of a job Redis
          lost would be taken for the result of the new job of the same id.
  Returns { outcome codes as a string, one character per result, recorded, dead, total or false,
  status, startedAt, cancelled jobs, cancelledAt or false }
  Outcome codes: R recorded, D duplicate (already recorded), O orphan (not in flight and not
  recordable: dead-lettered, beyond the batch's end, its batch done, or a failure), C cancelled
  (the job or its batch, while the batch was not done yet), T retry
  scheduled, X dead letter, S stale failure (an older attempt; ignored).
  A success for a job missing from the in-flight hash is still recorded while its batch runs: the
  job was dispatched (ids are deterministic), and Redis may have lost the write-ahead (an AOF
  fsync'd once a second, a failover); dropping the result would leave the batch short forever.
  Not in a bucket of single jobs (ARGV[9]). Such a result for a seq past the batch's end, which
  only a rogue or confused peer sends, leaves again when the total is written (end-batch-2.lua).
]]
--- @include "split-entry"
local inflight, leases, results, dead, errors, meta, workers = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local function reply(outcomes)
  local counters = redis.call('HMGET', meta, 'recorded', 'dead', 'total', 'status', 'startedAt', 'cancelled', 'cancelledAt')
  return { outcomes, counters[1] or '0', counters[2] or '0', counters[3], counters[4], counters[5], counters[6] or '0', counters[7] }
end
local prior = redis.call('GET', KEYS[8])
if prior then return reply(prior) end
local retries = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local backoff = tonumber(ARGV[4])
local cap = tonumber(ARGV[7])
local seed = tonumber(ARGV[8])
-- Math.random seeded by the caller, not Redis's own state: Redis before 7 reseeded it alike for
-- every script (every call would draw the same numbers), and a test can rerun a call's draws.
-- Script effects replication (the only kind in Redis 7) sends the ZADD with its score, not the
-- script, so a replica or the AOF never draws again.
if seed then math.randomseed(seed) end
-- The wait before the retry of a job whose attempt `attempt` failed: equal jitter over a window
-- whose top is twice the doubled backoff, base * 2^attempt, capped: a uniform draw between half the
-- top and the top. So retry n waits between base * 2^(n-1) (the backoff as documented, the least
-- wait) and twice that, and once the doubling reaches the cap, between half the cap and the cap.
-- Jobs that fail together (one downstream down for all of them) thus come back spread over
-- half their window instead of in lockstep, at every retry and at the cap too. Equal rather than
-- full jitter (a draw from 0 to the top): a retry never comes straight back at a downstream
-- that is failing, and retryBackoffMs stays the least wait before the first retry.
local function backoffOf(attempt)
  local top = backoff * 2 ^ attempt
  if cap and top > cap then top = cap end
  if not seed then return top / 2 end
  return top / 2 + math.random() * top / 2
end
local codes = {}
local recorded, deadCount = 0, 0
local batch = redis.call('HMGET', meta, 'status', 'total', 'cancelledAt', 'topSeq')
local running, total = batch[1] == 'running', tonumber(batch[2])
local topBefore = tonumber(batch[4]) or -1
local top = topBefore
-- Reads and writes are batched: one HMGET, HDEL, ZREM and HSET for the whole pack. One command
-- per job made this script about twice as costly (Redis's commandstats: 11 us a job).
local quads = cjson.decode(ARGV[6])
local seqs, failures = {}, {}
for i = 1, #quads, 4 do
  seqs[#seqs + 1] = quads[i]
  if quads[i + 2] ~= 1 then failures[#failures + 1] = quads[i] end
end
if #seqs == 0 then return reply('') end
-- A cancelled batch records nothing more; jobs that left before the ventilator heard of the
-- cancel leave the ledger here, so no lease brings them back.
if batch[3] then
  redis.call('HDEL', inflight, unpack(seqs))
  redis.call('ZREM', leases, unpack(seqs))
  return reply(string.rep('C', #seqs))
end
local done = redis.call('HMGET', results, unpack(seqs))
-- Only a failure needs its in-flight entry (the attempt it is at). A success is recorded whenever
-- its batch can take it: a job in flight is of a running batch, below its end, and not dead, so
-- reading the entries of successes (payloads and all) only told what the checks below tell too.
local held = {}
local inFlightOnly = ARGV[9] == '1'
local ask = inFlightOnly and seqs or failures
if #ask > 0 then
  local entries = redis.call('HMGET', inflight, unpack(ask))
  for n = 1, #ask do held[ask[n]] = entries[n] end
end
local isDead = {}
if redis.call('EXISTS', dead) == 1 then
  local entries = redis.call('HMGET', dead, unpack(seqs))
  for n = 1, #seqs do isDead[seqs[n]] = entries[n] end
end
local isCancelled = {}
if redis.call('EXISTS', KEYS[9]) == 1 then
  local entries = redis.call('HMGET', KEYS[9], unpack(seqs))
  for n = 1, #seqs do isCancelled[seqs[n]] = entries[n] end
end
local hasErrors = redis.call('EXISTS', errors) == 1
-- A failure is retried unless its error object says `"retryable": false`; anything else (the field
-- absent, true, or an error that is not an object) keeps today's retries. Decoded only for a
-- failure that would otherwise be retried.
local function retryable(body)
  local parsed, value = pcall(cjson.decode, body)
  return not (parsed and type(value) == 'table' and value.retryable == false)
end
local finished, stored, seen = {}, {}, {}
for n = 1, #seqs do
  local i = 1 + (n - 1) * 4
  local seq, attempt, ok, body = seqs[n], quads[i + 1], quads[i + 2] == 1, quads[i + 3]
  if done[n] or seen[seq] then
    codes[#codes + 1] = 'D'
  elseif isCancelled[seq] then
    codes[#codes + 1] = 'C'
  elseif ok then
    if running and (not total or tonumber(seq) < total) and not isDead[seq] and (held[seq] or not inFlightOnly) then
      finished[#finished + 1] = seq
      stored[#stored + 1] = seq
      stored[#stored + 1] = body
      recorded = recorded + 1
      codes[#codes + 1] = 'R'
      if not total and tonumber(seq) > top then top = tonumber(seq) end
    else
      codes[#codes + 1] = 'O'
    end
  elseif not held[seq] then
    codes[#codes + 1] = 'O'
  else
    local job = held[seq]
    local jobAttempt = splitEntry(job)
    if attempt < jobAttempt then
      codes[#codes + 1] = 'S'
    elseif jobAttempt <= retries and retryable(body) then
      redis.call('HSET', errors, seq, body)
      redis.call('ZADD', leases, math.floor(now + backoffOf(jobAttempt)), seq)
      codes[#codes + 1] = 'T'
    else
      finished[#finished + 1] = seq
      redis.call('HSET', dead, seq, job)
      redis.call('HSET', errors, seq, body)
      deadCount = deadCount + 1
      codes[#codes + 1] = 'X'
    end
  end
  seen[seq] = true
end
if #finished > 0 then
  redis.call('HDEL', inflight, unpack(finished))
  redis.call('ZREM', leases, unpack(finished))
end
if hasErrors and #stored > 0 then
  local recordedSeqs = {}
  for n = 1, #stored, 2 do recordedSeqs[#recordedSeqs + 1] = stored[n] end
  redis.call('HDEL', errors, unpack(recordedSeqs))
end
if #stored > 0 then redis.call('HSET', results, unpack(stored)) end
if recorded > 0 then redis.call('HINCRBY', meta, 'recorded', recorded) end
if top > topBefore then redis.call('HSET', meta, 'topSeq', top) end
if deadCount > 0 then redis.call('HINCRBY', meta, 'dead', deadCount) end
if recorded + deadCount > 0 then redis.call('HINCRBY', workers, ARGV[1], recorded + deadCount) end
local outcomes = table.concat(codes)
redis.call('SET', KEYS[8], outcomes, 'PX', ARGV[5])
return reply(outcomes)
