--[[
  Closes the buckets of a pipeline's job stream that have taken jobs for long enough (see
  add-jobs-5.lua): a close entry with the bucket's total goes on the stream after its jobs, so the
  bucket can complete, and later expire, while no job comes to roll it over.
  KEYS[1] stream, KEYS[2] buckets (as in add-jobs-5.lua)
  ARGV[1] now (epoch ms)
  ARGV[2] how long a bucket takes jobs, at most, in ms
  Returns how many buckets it closed.
]]
local stream, buckets = KEYS[1], KEYS[2]
local now, maxAgeMs = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = redis.call('HGETALL', buckets)
local closed = 0
for i = 1, #fields, 2 do
  if string.sub(fields[i], 1, 5) == 'open:' then
    local bucket, openedAt, jobs = string.match(fields[i + 1], '^(.*)|(%d+)|(%d+)$')
    if now - tonumber(openedAt) >= maxAgeMs then
      redis.call('XADD', stream, '*', 'c', bucket, 'n', jobs)
      redis.call('HDEL', buckets, fields[i])
      redis.call('HSET', buckets, 'closed:' .. bucket, jobs)
      closed = closed + 1
    end
  end
end
return closed
