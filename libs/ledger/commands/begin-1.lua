--[[
  Begins a batch, or finds it begun (resumed, done, or cancelled while queued): one round trip
  where an HSETNX, an HSET and an HGETALL took three. The batches list and the pipeline's active
  set are other slots: the caller adds the batch to them after this (RedisLedger.beginBatch).
  KEYS[1] meta  hash: startedAt, pipeline, status, recorded, dead (and, later, total, summary, ...)
  ARGV[1] now (epoch ms), ARGV[2] the pipeline
  Returns { 1 when this call began it, else 0; the meta hash as HGETALL gives it }.
]]
local created = redis.call('HSETNX', KEYS[1], 'startedAt', ARGV[1])
if created == 1 then redis.call('HSET', KEYS[1], 'pipeline', ARGV[2], 'status', 'running', 'recorded', 0, 'dead', 0) end
return { created, redis.call('HGETALL', KEYS[1]) }
