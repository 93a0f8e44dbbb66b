import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workspaceLayout } from '../../src/domain/workspace-layout.js';
import type { SecretStore } from '../../src/ports/secret-store.js';
import type { InvocationPlan } from '../../src/stages/invocation-plan.js';
import { prepareParameters } from '../../src/stages/setup.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';

afterAll(removeTempDirs);

/** A secret store holding one secret of org og_a, recording who asked for what. */
function recordingStore(): { store: SecretStore; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    store: {
      resolve: (name, orgId) => {
        asked.push(`${name}@${orgId}`);
        return Promise.resolve(name === 'db' && orgId === 'og_a' ? 'org-a-password' : undefined);
      },
    },
  };
}

function planOf(orgId: string, value: string): InvocationPlan {
  return {
    invocationId: 'iv_secret_attack',
    attempt: 1,
    orgId,
    action: {
      name: 'attacker',
      parameters: [{ name: 'p', required: false, description: null, default: null }],
    },
    parameterValues: { p: value },
  } as unknown as InvocationPlan;
}

describe("a secret parameter naming another org's secret (roboto-secret://name@og_other)", () => {
  it("is not found for an invocation of another org, and that org's store is never asked", async () => {
    const root = await tempDir('secret-attack');
    const layout = workspaceLayout(path.join(root, 'ws'));
    await mkdir(layout.runtimeConfigDir, { recursive: true });
    const { store, asked } = recordingStore();
    await expect(
      prepareParameters(planOf('og_b', 'roboto-secret://db@og_a'), layout, store, {
        tmpfsDir: path.join(root, 'tmpfs'),
        owner: { deploymentId: 'test', workerId: 'w' } as never,
      }),
    ).rejects.toMatchObject({ code: 'E_SECRET_NOT_FOUND' });
    expect(asked.filter((what) => what.endsWith('@og_a'))).toEqual([]);
  });

  it('is resolved for an invocation of that org itself (the explicit @org is its own)', async () => {
    const { store, asked } = recordingStore();
    const root = await tempDir('secret-own');
    const layout = workspaceLayout(path.join(root, 'ws'));
    await mkdir(layout.runtimeConfigDir, { recursive: true });
    // Resolution itself is asked of org og_a; writing the tmpfs file may fail here (no tmpfs in the test).
    await prepareParameters(planOf('og_a', 'roboto-secret://db@og_a'), layout, store, {
      tmpfsDir: path.join(root, 'tmpfs'),
      owner: { deploymentId: 'test', workerId: 'w' } as never,
    }).catch(() => undefined);
    expect(asked).toEqual(['db@og_a']);
  });
});
