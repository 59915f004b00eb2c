--[[
  The split is over: the batch has ARGV[1] jobs. A success for a job missing from the in-flight
  hash is recorded while the total is unknown (record-9.lua: Redis may have lost its
  write-ahead), so a rogue or confused peer could have had results recorded for seqs that the
  split never made, and they would count toward the batch's end: it would complete with real
  jobs missing. Those results leave here, with their count. record-9.lua keeps the highest seq
  recorded before the total was known (topSeq), so a batch that has none past its end (every
  batch but a rogue's target) costs one HGET more, not a scan of its results.
  KEYS[1] meta     hash: total, recorded, topSeq, pastEnd (how many were removed), ...
  KEYS[2] results  hash seq -> result value JSON
  ARGV[1] total
  Returns how many results past the end were removed.
]]
local meta, results = KEYS[1], KEYS[2]
local total = tonumber(ARGV[1])
redis.call('HSET', meta, 'total', ARGV[1])
local top = tonumber(redis.call('HGET', meta, 'topSeq'))
if not top or top < total then return 0 end
local past = {}
local cursor = '0'
repeat
  local page = redis.call('HSCAN', results, cursor, 'COUNT', 1000)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    if tonumber(fields[i]) >= total then past[#past + 1] = fields[i] end
  end
until cursor == '0'
-- In slices: unpack has a limit on how many values it returns.
for i = 1, #past, 1000 do redis.call('HDEL', results, unpack(past, i, math.min(i + 999, #past))) end
if #past > 0 then
  redis.call('HINCRBY', meta, 'recorded', -#past)
  -- Said apart, so that a sink whose fold held them does not take their going for a loss.
  redis.call('HINCRBY', meta, 'pastEnd', #past)
end
return #past
