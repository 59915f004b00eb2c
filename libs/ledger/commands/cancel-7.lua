--[[
  Cancels a whole batch, or some of its jobs: what is cancelled is never sent again and never
  recorded (record-9.lua refuses its results, admit-6.lua and take-due-6.lua skip it); what was
  recorded before stays. A cancelled job counts toward the batch's completion (complete-10.lua),
  and a cancelled batch completes at once, whatever it has left.
  Every key is the batch's (one hash slot). The pipeline's active set and the ventilators' notice
  are other slots: the caller updates them after this (RedisLedger.cancel).
  KEYS[1] inflight  hash seq -> "<attempt>|<payload JSON>"
  KEYS[2] leases    zset seq by deadline
  KEYS[3] packs     zset of pack leases of fresh jobs
  KEYS[4] results   hash seq -> result value JSON
  KEYS[5] dead      hash seq -> "<attempt>|<payload JSON>"
  KEYS[6] meta      hash: total, recorded, dead, status, pipeline, startedAt; this adds
                    cancelledAt (the batch was cancelled) and cancelled (jobs cancelled)
  KEYS[7] cancelled hash seq -> epoch ms: the jobs cancelled one by one
  ARGV[1] now (epoch ms)
  ARGV[2] the batch's pipeline: a batch not begun yet is begun here, so that the sink completes
          it and a ventilator that takes it later finds it cancelled
  ARGV[3] the most jobs the batch can have had so far ('' when unknown): a job at or past it
          does not exist (yet), and cancelling it would count a job that never was
  ARGV[4..] seqs: the jobs to cancel; none cancels the batch
  Returns { code, count }. A batch: code 'C' cancelled now, with the jobs taken out of flight;
  'A' cancelled before; 'D' done before it could be. Jobs: one character per seq, C cancelled now,
  A cancelled before, R has a result, X is a dead letter, U unknown (past ARGV[3], or not in flight
  while the batch's size is unknown), D its batch is done; count the jobs cancelled now.
  A batch of another pipeline: error WRONG_PIPELINE.
]]
local inflight, leases, packs, results, dead, meta, cancelled = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local now, pipeline, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local m = redis.call('HMGET', meta, 'status', 'cancelledAt', 'startedAt', 'pipeline', 'total')
if m[4] and m[4] ~= pipeline then return redis.error_reply('WRONG_PIPELINE batch belongs to pipeline ' .. m[4]) end
local total = tonumber(m[5])
if total then limit = total end

if #ARGV < 4 then
  if m[1] == 'done' then return { 'D', 0 } end
  if m[2] then return { 'A', 0 } end
  if not m[3] then redis.call('HSET', meta, 'startedAt', now, 'pipeline', pipeline, 'status', 'running', 'recorded', 0, 'dead', 0) end
  local out = redis.call('HLEN', inflight)
  redis.call('DEL', inflight, leases, packs)
  redis.call('HINCRBY', meta, 'cancelled', out)
  redis.call('HSET', meta, 'cancelledAt', now)
  return { 'C', out }
end

local codes, fields = {}, {}
for i = 4, #ARGV do
  local seq = ARGV[i]
  local n = tonumber(seq)
  if m[1] == 'done' then
    codes[#codes + 1] = redis.call('HEXISTS', results, seq) == 1 and 'R' or 'D'
  elseif redis.call('HEXISTS', results, seq) == 1 then
    codes[#codes + 1] = 'R'
  elseif redis.call('HEXISTS', dead, seq) == 1 then
    codes[#codes + 1] = 'X'
  elseif m[2] or redis.call('HEXISTS', cancelled, seq) == 1 then
    codes[#codes + 1] = 'A'
  elseif redis.call('HEXISTS', inflight, seq) == 0 and (not limit or n >= limit) then
    codes[#codes + 1] = 'U'
  else
    redis.call('HDEL', inflight, seq)
    redis.call('ZREM', leases, seq)
    fields[#fields + 1] = seq
    fields[#fields + 1] = now
    codes[#codes + 1] = 'C'
  end
end
if #fields > 0 then
  redis.call('HSET', cancelled, unpack(fields))
  redis.call('HINCRBY', meta, 'cancelled', #fields / 2)
end
return { table.concat(codes), #fields / 2 }
