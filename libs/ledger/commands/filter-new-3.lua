--[[
  For a resumed batch: which of these jobs were never dispatched (not in flight, not recorded,
  not dead-lettered), so a ventilator that runs the split again skips the rest.
  KEYS[1] inflight, KEYS[2] results, KEYS[3] dead
  ARGV seqs
  Returns the seqs that are new.
]]
local new = {}
for _, seq in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[1], seq) == 0 and redis.call('HEXISTS', KEYS[2], seq) == 0 and redis.call('HEXISTS', KEYS[3], seq) == 0 then
    new[#new + 1] = seq
  end
end
return new
