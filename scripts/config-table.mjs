#!/usr/bin/env node
// usage: node scripts/config-table.mjs [--write]
// Prints the configuration table of every role; with --write, puts it into README.md between the
// config-table markers. A test checks that the README's table is current.
import { readFileSync, writeFileSync } from 'node:fs';
import { allSettingsTable } from '../cli/dist/config-table.js';

const table = allSettingsTable();
if (!process.argv.includes('--write')) {
  console.log(table);
} else {
  const readme = new URL('../README.md', import.meta.url);
  const text = readFileSync(readme, 'utf8');
  const updated = text.replace(/(<!-- config-table:start -->)[\s\S]*?(<!-- config-table:end -->)/, `$1\n${table}\n$2`);
  writeFileSync(readme, updated);
}
