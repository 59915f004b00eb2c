#!/usr/bin/env node
// The `jobpipe` bin. It is a committed file rather than dist/main.js itself, because npm links a
// bin only when its file exists at install time, and dist/ appears only after `npm run build`.
import('../dist/main.js').catch((error) => {
  const missing = error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/cli/dist/main.js');
  if (!missing) throw error;
  process.stderr.write('jobpipe: not built yet (cli/dist/main.js is missing): run `npm run build` in the jobpipe checkout\n');
  process.exit(2);
});
