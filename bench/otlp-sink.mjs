// An OTLP/HTTP receiver that reads every export and drops it: what the tracing benchmarks export
// to (bench/run.mjs's jobpipe-traced, bench/tracing-cost.mjs). `received` counts requests and bytes.
import { createServer } from 'node:http';

export async function otlpSink() {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((request, response) => {
    request.on('data', (chunk) => (received.bytes += chunk.length));
    request.on('end', () => {
      received.requests++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{}');
    });
  });
  await new Promise((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    received,
    close: () => new Promise((resolveClose) => server.close(() => resolveClose())),
  };
}
