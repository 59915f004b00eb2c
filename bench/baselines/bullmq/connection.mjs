// What every BullMQ role shares: the connection and the queue options.
export const connection = (config) => ({ host: '127.0.0.1', port: config.port, maxRetriesPerRequest: null });
// The events stream is trimmed to ~10,000 entries by default, and each job adds several events:
// keep them all so that a collector that falls behind loses no 'completed' event.
export const queueOptions = (config) => ({ connection: connection(config), streams: { events: { maxLen: Math.max(10_000, config.jobs * 10) } } });
