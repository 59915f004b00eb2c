--[[
  Forgets dead letters for good. The batch keeps counting them as failed.
  KEYS[1] dead, KEYS[2] errors, KEYS[3] meta
  ARGV seqs (none: every dead letter of the batch)
  Returns the number purged.
]]
local seqs = ARGV
if #seqs == 0 then seqs = redis.call('HKEYS', KEYS[1]) end
local purged = 0
for _, seq in ipairs(seqs) do
  if redis.call('HDEL', KEYS[1], seq) == 1 then
    redis.call('HDEL', KEYS[2], seq)
    purged = purged + 1
  end
end
if purged > 0 then redis.call('HINCRBY', KEYS[3], 'purged', purged) end
return purged
