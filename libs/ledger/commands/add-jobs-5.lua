--[[
  Adds single jobs to a pipeline's job stream. Each job gets the next seq of the open bucket of
  its priority: a bucket is a batch without a split, whose jobs come from this stream, so single
  jobs have the write-ahead, leases, exactly-once recording, dead letters and retention of batch
  jobs. A bucket closes when it holds enough jobs or is old enough: a close entry on the stream,
  after all of its jobs, tells the ventilator that reads it the bucket's total.
  A job to run no earlier than a time gets its id at once but waits in the delayed set until then
  (commands/promote-delayed-2.lua puts it on the stream); its bucket waits for it to complete.
  Every key is the pipeline's job keys' (one hash slot, "{jobs-<pipeline>}").
  KEYS[1] stream   the job stream: entries {b bucket, s seq, p payload JSON[, r priority]} and
                   close entries {c bucket, n total}
  KEYS[2] buckets  hash: "open:<priority>" -> "<bucket>|<opened at, ms>|<jobs>"; "closed:<bucket>" ->
                   its total, until a ventilator has taken the close entry in; "serial" -> buckets made
  KEYS[3] delayed  zset of jobs not to run before their score (epoch ms): "<bucket>|<seq>|<priority>|<payload JSON>"
  KEYS[4] keys     hash: idempotency key -> the id of the job it added
  KEYS[5] keyTimes zset: idempotency key by the time it is forgotten (epoch ms); what is past is
                   dropped here, a few at a time, so both stay bounded by the keys of the last ARGV[4] ms
  ARGV[1] now (epoch ms)
  ARGV[2] jobs per bucket, at most
  ARGV[3] how long a bucket takes jobs, at most, in ms
  ARGV[4] how long an idempotency key is kept, in ms
  ARGV[5] the pipeline's name
  ARGV[6..] quads: priority ("" for none), idempotency key ("" for none), run-at epoch ms ("" for
          now), payload JSON
  Returns, per job, its id "<bucket>:<seq>" and 1 when it was added now or 0 when its key had
  been given before (the id is the first one's, nothing is added).
]]
local stream, buckets, delayed, keys, keyTimes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now, maxJobs, maxAgeMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local keyTtlMs, pipeline = tonumber(ARGV[4]), ARGV[5]
-- Keys past their time go, up to twice as many as this call can add: the sets stay bounded.
local expired = redis.call('ZRANGEBYSCORE', keyTimes, '-inf', now, 'LIMIT', 0, 2 * (#ARGV - 5) / 4 + 1)
if #expired > 0 then
  redis.call('HDEL', keys, unpack(expired))
  redis.call('ZREM', keyTimes, unpack(expired))
end
local open = {}
local function close(priority)
  local field = 'open:' .. priority
  local current = open[priority] or redis.call('HGET', buckets, field)
  if current and current ~= false then
    local bucket, _, jobs = string.match(current, '^(.*)|(%d+)|(%d+)$')
    redis.call('XADD', stream, '*', 'c', bucket, 'n', jobs)
    redis.call('HDEL', buckets, field)
    redis.call('HSET', buckets, 'closed:' .. bucket, jobs)
  end
  open[priority] = nil
end
local function bucketFor(priority)
  local current = open[priority]
  if current == nil then
    current = redis.call('HGET', buckets, 'open:' .. priority)
    if current == false then current = nil end
  end
  if current then
    local bucket, openedAt, jobs = string.match(current, '^(.*)|(%d+)|(%d+)$')
    openedAt, jobs = tonumber(openedAt), tonumber(jobs)
    if jobs < maxJobs and now - openedAt < maxAgeMs then return bucket, openedAt, jobs end
    close(priority)
  end
  local serial = redis.call('HINCRBY', buckets, 'serial', 1)
  local bucket = pipeline .. '~' .. (priority ~= '' and ('p' .. priority .. '~') or '') .. string.format('%x', now) .. '-' .. serial
  return bucket, now, 0
end
local ids = {}
for i = 6, #ARGV, 4 do
  local priority, key, runAt, payload = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local known = key ~= '' and redis.call('HGET', keys, key)
  if known then
    ids[#ids + 1] = known
    ids[#ids + 1] = 0
  else
    local bucket, openedAt, seq = bucketFor(priority)
    local id = bucket .. ':' .. seq
    if runAt and runAt > now then
      redis.call('ZADD', delayed, runAt, bucket .. '|' .. seq .. '|' .. priority .. '|' .. payload)
    elseif priority ~= '' then
      redis.call('XADD', stream, '*', 'b', bucket, 's', seq, 'p', payload, 'r', priority)
    else
      redis.call('XADD', stream, '*', 'b', bucket, 's', seq, 'p', payload)
    end
    open[priority] = bucket .. '|' .. openedAt .. '|' .. (seq + 1)
    if key ~= '' then
      redis.call('HSET', keys, key, id)
      redis.call('ZADD', keyTimes, now + keyTtlMs, key)
    end
    ids[#ids + 1] = id
    ids[#ids + 1] = 1
  end
end
for priority, current in pairs(open) do redis.call('HSET', buckets, 'open:' .. priority, current) end
return ids
