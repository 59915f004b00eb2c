#!/usr/bin/env node
// usage: node scripts/cli-docs.mjs [--write]
// Prints the reference of every jobpipe command and option, made from the commander program
// itself (run `npm run build` first); with --write, writes it to docs/cli.md. A test checks that
// docs/cli.md is current.
import { writeFileSync } from 'node:fs';
import { cliReference } from '../cli/dist/cli-docs.js';
import { buildProgram } from '../cli/dist/program.js';

const reference = cliReference(buildProgram());
if (process.argv.includes('--write')) writeFileSync(new URL('../docs/cli.md', import.meta.url), reference);
else process.stdout.write(reference);
