--[[
  Marks a batch done when every job has a result or is a dead letter, once: only the first caller
  wins, so a summary is published once.
  KEYS[1] meta    hash: total, recorded, dead, status, summary, finishedAt
  KEYS[2] active  set of running batch ids of the pipeline
  KEYS[3] packs   zset of pack leases (see expire-packs-3.lua): a done batch has nothing in flight,
                  and its reaper stops, so what is left of them would stay forever
  ARGV[1] batch id, ARGV[2] summary JSON, ARGV[3] now (epoch ms)
  Returns 1 when this call completed the batch (or a resend of it finds its own summary there: the
  first run's reply was lost), 0 otherwise.
]]
local m = redis.call('HMGET', KEYS[1], 'total', 'recorded', 'dead', 'status', 'summary')
if m[4] == 'done' then return m[5] == ARGV[2] and 1 or 0 end
if not m[1] then return 0 end
if tonumber(m[2] or '0') + tonumber(m[3] or '0') < tonumber(m[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'done', 'summary', ARGV[2], 'finishedAt', ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
