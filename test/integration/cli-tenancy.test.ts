import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { RedisTenancyStore } from '../../src/adapters/redis/redis-tenancy-store.js';
import { ApiTokenRecord, OrgRecord } from '../../src/ports/tenancy.js';
import { useTestQueue } from '../support/daemon-harness.js';

describe('action-worker orgs and tokens, through the CLI, on a real redis-server', () => {
  const queue = useTestQueue();

  /** The store the API server would read: this test's key prefix, its own connection. */
  function tenancy(): RedisTenancyStore {
    return new RedisTenancyStore({ redis: queue().location().url, prefix: recordPrefix(queue().location()) });
  }

  async function ok(args: string[]): Promise<{ stdout: string; stderr: string }> {
    const result = await queue().cli(args);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result;
  }

  it('creates an org and a token printed once, that authenticates as the org until it is revoked', async () => {
    const orgId = (await ok(['orgs', 'create', '--name', 'Acme Robotics'])).stdout.trim();
    expect(orgId).toMatch(/^og_[0-9a-z]{12}$/);
    const orgs = OrgRecord.array().parse(JSON.parse((await ok(['orgs', 'list', '--json'])).stdout));
    expect(orgs.map((org) => [org.org_id, org.name])).toContainEqual([orgId, 'Acme Robotics']);

    const created = await ok(['tokens', 'create', '--org', orgId, '--name', 'ci', '--expires', '90d']);
    const token = created.stdout.trim();
    expect(token).toMatch(/^awt_[0-9a-z]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.stdout).toBe(token);
    expect(created.stderr.trim().split('\n')).toHaveLength(1);
    expect(created.stderr).toMatch(/shown once/);
    expect(created.stderr).not.toContain(token.slice(-43));

    const store = tenancy();
    try {
      const principal = await store.authenticate(token);
      expect(principal?.orgId).toBe(orgId);
      const tokenId = principal?.tokenId ?? '';

      const listed = await ok(['tokens', 'list', '--org', orgId]);
      expect(listed.stdout).toContain(tokenId);
      expect(listed.stdout).toMatch(/ used \d{4}-/);
      expect(listed.stdout).not.toContain(token.slice(-43));
      const records = ApiTokenRecord.array().parse(
        JSON.parse((await ok(['tokens', 'list', '--json'])).stdout),
      );
      const record = records.find((each) => each.token_id === tokenId);
      expect(record).toMatchObject({ org_id: orgId, name: 'ci', revoked: null });
      // 90 days from when the command parsed it, a moment before the record's creation.
      const lifetime = Date.parse(record?.expires ?? '') - Date.parse(record?.created ?? '');
      expect(lifetime).toBeLessThanOrEqual(90 * 86_400_000);
      expect(lifetime).toBeGreaterThan(90 * 86_400_000 - 60_000);
      expect(JSON.stringify(records)).not.toContain(token.slice(-43));

      // Nothing under the prefix holds the secret.
      const redis = new Redis(queue().location().url);
      try {
        for (const key of await redis.keys(`${queue().location().keyPrefix}*`)) {
          expect(key).not.toContain(token.slice(-43));
          if ((await redis.type(key)) === 'hash') {
            expect(JSON.stringify(await redis.hgetall(key))).not.toContain(token.slice(-43));
          }
        }
      } finally {
        await redis.quit();
      }

      const revoked = await ok(['tokens', 'revoke', tokenId]);
      expect(revoked.stdout).toContain(`${tokenId} revoked`);
      expect(await store.authenticate(token)).toBeUndefined();
      expect((await ok(['tokens', 'list'])).stdout).toMatch(new RegExp(`${tokenId} .* revoked `));
    } finally {
      await store.close();
    }
  });

  it.each([
    [['tokens', 'create', '--org', 'og_nosuchorg01'], /org og_nosuchorg01 does not exist/],
    [['tokens', 'revoke', 'tk_nosuchtoken'], /token tk_nosuchtoken does not exist/],
    [['tokens', 'list', '--org', 'og_nosuchorg02'], /org og_nosuchorg02 does not exist/],
    [['tokens', 'create', '--org', 'og_x', '--expires', 'soon'], /--expires "soon" is not a duration/],
    [['orgs', 'create', '--name', '  '], /--name must not be empty/],
  ])('%j fails with a clear message and exit code 64', async (args, message) => {
    const result = await queue().cli(args);
    expect(result.exitCode, result.stderr).toBe(64);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it.each(['yesterday', '2020-01-01', '-3d'])('refuses --expires %j and makes no token', async (expires) => {
    const orgId = (await ok(['orgs', 'create', '--name', 'expiry'])).stdout.trim();
    const result = await queue().cli(['tokens', 'create', '--org', orgId, '--expires', expires]);
    expect(result.exitCode, result.stderr).toBe(64);
    expect(result.stderr).toContain(`--expires "${expires}"`);
    expect(result.stdout).toBe('');
    expect((await ok(['tokens', 'list', '--org', orgId])).stdout).toBe('');
  });
});
