--[[
  A pipeline's rate limit, shared by all its ventilators: a token bucket that fills at the rate
  and holds a burst at most; each call takes what it wants of what is there.
  KEYS[1] rateTokens  hash: tokens (a number), at (epoch ms of the last fill); it expires when unused
  ARGV[1] now (epoch ms)
  ARGV[2] rate, in jobs per second
  ARGV[3] burst: tokens held at most
  ARGV[4] tokens wanted
  Returns the tokens taken (0 .. wanted).
]]
local now, rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if not tokens then tokens, at = burst, now end
if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000) end
local taken = math.min(want, math.floor(tokens))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', math.max(now, at))
redis.call('PEXPIRE', KEYS[1], 60000)
return taken
