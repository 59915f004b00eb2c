--[[
  Marks a batch done when every job has a result, is a dead letter or was cancelled, or when the
  batch was cancelled (cancel-7.lua), once: only the first caller
  wins, so a summary is published once. The batch's keys then expire after its retention.
  Every key is the batch's (one hash slot). The pipeline's active set and the list of expiring
  batches are other slots: the caller updates them after this (RedisLedger.complete), whenever
  this finds the batch done.
  KEYS[1] meta      hash: total, recorded, dead, cancelled, cancelledAt, status, summary, finishedAt
  KEYS[2] packs     zset of pack leases (see expire-packs-3.lua): a done batch has nothing in
                    flight, and its reaper stops, so what is left of them would stay forever
  KEYS[3] inflight  the other keys of the batch, which expire with it (a key that does not exist
  KEYS[4] leases    is left alone)
  KEYS[5] results
  KEYS[6] dead
  KEYS[7] errors
  KEYS[8] workers
  KEYS[9] submitted string written by JobpipeClient.submit: JSON {at, retentionMs?, deadRetentionMs?}
                    (an older client wrote the time alone), a submission's own retention
  KEYS[10] cancelled hash of the jobs cancelled one by one
  ARGV[1] summary JSON, ARGV[2] now (epoch ms)
  ARGV[3] retention in ms (the sink's JOBPIPE_RETENTION; 0: forever), unless the submission has one
  ARGV[4] dead retention in ms (JOBPIPE_DEAD_RETENTION; 0: forever): a batch with dead letters
          keeps every key for the longer of the two, so that a retry finds its results
  Returns { outcome, ms }: outcome 1 when this call completed the batch (or a resend of it finds
  its own summary there: the first run's reply was lost), 2 when the batch was done already
  (another summary), 0 when it has jobs left; ms is how long the batch's keys have left (-1:
  kept forever, or outcome 0).
]]
local m = redis.call('HMGET', KEYS[1], 'total', 'recorded', 'dead', 'status', 'summary', 'cancelled', 'cancelledAt')
if m[4] == 'done' then return { m[5] == ARGV[1] and 1 or 2, redis.call('PTTL', KEYS[1]) } end
local settled = tonumber(m[2] or '0') + tonumber(m[3] or '0')
if m[7] then
  -- A cancelled batch whose split was over: every job it did not finish was cancelled.
  if m[1] then redis.call('HSET', KEYS[1], 'cancelled', math.max(0, tonumber(m[1]) - settled)) end
else
  if not m[1] then return { 0, -1 } end
  if settled + tonumber(m[6] or '0') < tonumber(m[1]) then return { 0, -1 } end
end
redis.call('HSET', KEYS[1], 'status', 'done', 'summary', ARGV[1], 'finishedAt', ARGV[2])
redis.call('DEL', KEYS[2])
local retention, deadRetention = tonumber(ARGV[3]), tonumber(ARGV[4])
local submitted = redis.call('GET', KEYS[9])
if submitted then
  local ok, own = pcall(cjson.decode, submitted)
  if ok and type(own) == 'table' then
    if type(own.retentionMs) == 'number' then retention = own.retentionMs end
    if type(own.deadRetentionMs) == 'number' then deadRetention = own.deadRetentionMs end
  end
end
local keep = retention
if redis.call('EXISTS', KEYS[6]) == 1 then
  if retention == 0 or deadRetention == 0 then keep = 0 else keep = math.max(retention, deadRetention) end
end
if keep <= 0 then return { 1, -1 } end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], keep)
end
return { 1, keep }
