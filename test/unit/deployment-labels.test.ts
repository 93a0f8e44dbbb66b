import { describe, expect, it } from 'vitest';
import {
  type Deployment,
  LABEL_PREFIX,
  Labels,
  deploymentFromLabels,
  isSameDeployment,
  ownerLabels,
} from '../../src/domain/container-labels.js';

// The id comes from the Redis server (test/integration/daemon-deployment-id.test.ts shows it is the same
// for every spelling of the URL, differs between servers, and carries no credentials).
const deployment: Deployment = { id: '0123456789abcdef0123456789abcdef', keyPrefix: 'p', queue: 'q' };

describe('the deployment a container is labelled with', () => {
  it('tells apart another deployment id, key prefix or queue', () => {
    for (const other of [
      { ...deployment, id: 'fedcba9876543210fedcba9876543210' },
      { ...deployment, keyPrefix: 'p2' },
      { ...deployment, queue: 'q2' },
    ]) {
      expect(isSameDeployment(deployment, other), JSON.stringify(other)).toBe(false);
    }
    expect(isSameDeployment(deployment, { ...deployment })).toBe(true);
  });

  it('round-trips through labels, and is absent when any part is missing', () => {
    const labels = ownerLabels({ host: 'h', pid: 1, workerId: 'w', deployment });
    expect(deploymentFromLabels(labels)).toEqual(deployment);
    expect(deploymentFromLabels({ ...labels, [Labels.deploymentQueue]: '' })).toBeUndefined();
    expect(deploymentFromLabels({ ...labels, [Labels.deploymentId]: '' })).toBeUndefined();
    expect(isSameDeployment(undefined, deployment)).toBe(false);
    expect(isSameDeployment(undefined, undefined)).toBe(false);
  });

  it('reads a container of the URL-fingerprint labelling (no deployment id) as naming no deployment', () => {
    const older = {
      [`${LABEL_PREFIX}.deployment.redis`]: '0123456789abcdef',
      [Labels.deploymentKeyPrefix]: 'p',
      [Labels.deploymentQueue]: 'q',
    };
    expect(deploymentFromLabels(older)).toBeUndefined();
  });
});
