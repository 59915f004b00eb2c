import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  port: number;
  registry: Registry;
  /** Ready means sockets are bound or connected and, where used, Redis answers. */
  ready: () => boolean | Promise<boolean>;
  host?: string;
}

/** Serves /metrics, /healthz and /readyz on one port. Resolves once it listens. */
export async function startHealthServer(options: HealthServerOptions): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(status, { 'content-type': type });
      response.end(body);
    };
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => reply(200, text, options.registry.contentType),
        (error: Error) => reply(500, `metrics failed: ${error.message}\n`),
      );
    } else if (path === '/healthz') {
      reply(200, 'ok\n');
    } else if (path === '/readyz') {
      Promise.resolve()
        .then(options.ready)
        .then(
          (ready) => reply(ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n'),
          () => reply(503, 'not ready\n'),
        );
    } else {
      reply(404, 'not found: try /metrics, /healthz or /readyz\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
