--[[
  An in-flight or dead-letter entry, "<attempt>|<payload JSON>" (RedisLedger's entryOf): its
  attempt as a number, and the rest from the bar on ("|<payload JSON>"), so that
  `attempt .. rest` is the entry again. The loader (src/scripts.ts) puts this file in where a
  command includes it by name.
]]
local function splitEntry(entry)
  local bar = string.find(entry, '|', 1, true)
  return tonumber(string.sub(entry, 1, bar - 1)), string.sub(entry, bar)
end
