import { describe, expect, it } from 'vitest';
import { ConfigError } from './load-config.js';
import { replicationFrom, type RedisConnectionSettings } from './redis-settings.js';

const server = { display: 'redis://r:6379/0', host: 'r', port: 6379, db: 0, tls: false, sentinelName: 'mymaster' } as RedisConnectionSettings;

describe('replicationFrom', () => {
  it('is nothing at 0, and the replicas and timeout otherwise', () => {
    expect(replicationFrom({ redisWaitReplicas: 0, redisWaitTimeoutMs: 1000 }, server)).toBeUndefined();
    expect(replicationFrom({ redisWaitReplicas: 2, redisWaitTimeoutMs: 300 }, server)).toEqual({ replicas: 2, timeoutMs: 300 });
  });

  it('refuses replicas without Redis, and with a Redis Cluster, naming the setting', () => {
    expect(() => replicationFrom({ redisWaitReplicas: 1, redisWaitTimeoutMs: 1000 }, undefined)).toThrow(ConfigError);
    expect(() => replicationFrom({ redisWaitReplicas: 1, redisWaitTimeoutMs: 1000 }, { ...server, cluster: [{ host: 'a', port: 7000 }] })).toThrow(
      /JOBPIPE_REDIS_WAIT_REPLICAS does not work with a Redis Cluster/,
    );
  });
});
