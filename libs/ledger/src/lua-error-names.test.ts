import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WireErrorName } from '@jobpipe/protocol';

// The Lua commands write and match error names as literals: each must be a WireErrorName value,
// and each file holding one names the enum, so that a rename there is noticed here.
const commandsDir = new URL('../commands/', import.meta.url);
const commands = readdirSync(commandsDir)
  .filter((file) => file.endsWith('.lua'))
  .map((file) => ({ file, lua: readFileSync(new URL(file, commandsDir), 'utf8') }));
// `name = 'X'` (an error table being built) and `name == 'X'` (an error being matched).
const literals = ({ lua }: { lua: string }) => [...lua.matchAll(/\bname\s*==?\s*'([^']*)'/g)].map((match) => match[1]!);

describe('error names in the ledger commands', () => {
  it('are all WireErrorName values', () => {
    const found = commands.flatMap((command) => literals(command).map((name) => `${command.file}: ${name}`));
    const wire = new Set<string>(Object.values(WireErrorName));
    expect(found.filter((entry) => !wire.has(entry.split(': ')[1]!))).toEqual([]);
    // What the reaper writes and reads: WorkerLost from release (its error comes from the ventilator), LeaseExpired itself.
    expect(found).toEqual(expect.arrayContaining([`take-due-6.lua: ${WireErrorName.WorkerLost}`, `take-due-6.lua: ${WireErrorName.LeaseExpired}`]));
  });

  it('are named as WireErrorName where they are written', () => {
    for (const command of commands) if (literals(command).length > 0) expect(command.lua, command.file).toContain('WireErrorName');
  });
});
