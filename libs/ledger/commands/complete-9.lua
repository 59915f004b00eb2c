--[[
  Marks a batch done when every job has a result or is a dead letter, once: only the first caller
  wins, so a summary is published once.
  Every key is the batch's (one hash slot). The pipeline's active set is another slot: the caller
  takes the batch out of it after this (RedisLedger.complete), whenever this finds the batch done.
  KEYS[1] meta    hash: total, recorded, dead, status, summary, finishedAt
  KEYS[2] packs   zset of pack leases (see expire-packs-3.lua): a done batch has nothing in flight,
                  and its reaper stops, so what is left of them would stay forever
  ARGV[1] summary JSON, ARGV[2] now (epoch ms)
  Returns 1 when this call completed the batch (or a resend of it finds its own summary there: the
  first run's reply was lost), 2 when the batch was done already (another summary), 0 when it has
  jobs left.
]]
local m = redis.call('HMGET', KEYS[1], 'total', 'recorded', 'dead', 'status', 'summary')
if m[4] == 'done' then return m[5] == ARGV[1] and 1 or 2 end
if not m[1] then return 0 end
if tonumber(m[2] or '0') + tonumber(m[3] or '0') < tonumber(m[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'done', 'summary', ARGV[1], 'finishedAt', ARGV[2])
redis.call('DEL', KEYS[2])
return 1
