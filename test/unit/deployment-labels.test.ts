import { describe, expect, it } from 'vitest';
import { deploymentOf } from '../../src/adapters/bullmq/invocation-queue.js';
import {
  Labels,
  deploymentFromLabels,
  isSameDeployment,
  ownerLabels,
} from '../../src/domain/container-labels.js';

const location = { url: 'redis://127.0.0.1:6379', queue: 'q', keyPrefix: 'p' };

describe('the deployment a container is labelled with', () => {
  it('names the Redis server by a fingerprint that carries no credentials', () => {
    const withSecret = deploymentOf({ ...location, url: 'redis://user:s3cret-pass@127.0.0.1:6379' });
    expect(JSON.stringify(withSecret)).not.toContain('s3cret');
    expect(withSecret).toEqual(deploymentOf(location));
    expect(withSecret.redis).toMatch(/^[0-9a-f]{16}$/);
  });

  it('tells apart another Redis server, db, key prefix or queue', () => {
    const ours = deploymentOf(location);
    for (const other of [
      { ...location, url: 'redis://127.0.0.2:6379' },
      { ...location, url: 'redis://127.0.0.1:6380' },
      { ...location, url: 'redis://127.0.0.1:6379/1' },
      { ...location, url: 'rediss://127.0.0.1:6379' },
      { ...location, keyPrefix: 'p2' },
      { ...location, queue: 'q2' },
    ]) {
      expect(isSameDeployment(ours, deploymentOf(other)), JSON.stringify(other)).toBe(false);
    }
    expect(isSameDeployment(ours, deploymentOf({ ...location, url: 'redis://127.0.0.1/0' }))).toBe(true);
  });

  it('round-trips through labels, and is absent when any part is missing', () => {
    const deployment = deploymentOf(location);
    const labels = ownerLabels({ host: 'h', pid: 1, workerId: 'w', deployment });
    expect(deploymentFromLabels(labels)).toEqual(deployment);
    expect(deploymentFromLabels({ ...labels, [Labels.deploymentQueue]: '' })).toBeUndefined();
    expect(isSameDeployment(undefined, deployment)).toBe(false);
    expect(isSameDeployment(undefined, undefined)).toBe(false);
  });
});
