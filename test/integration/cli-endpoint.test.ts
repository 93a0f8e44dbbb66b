import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningApi } from '../../src/app/api-server.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { InvocationRecordWire } from '../../src/domain/invocation-wire.js';
import type { RedisInvocationStore } from '../../src/adapters/redis/redis-invocation-store.js';
import type { ApiTestServer, TestOrg } from '../support/api-test-server.js';
import { useTestQueue } from '../support/daemon-harness.js';
import { apiTestServerOn } from '../support/serve-with-daemon.js';
import { cliPath, projectRoot } from '../support/paths.js';
import { tempDir } from '../support/temp-dirs.js';

/**
 * The read commands with `--endpoint`: the real CLI against a real `serve` on loopback, over the same
 * Redis prefix the records and tokens live under; the token only in the CLI's environment.
 */
describe('action-worker read commands through the API (--endpoint)', () => {
  const queue = useTestQueue();
  let server: ApiTestServer;
  let api: RunningApi;
  let store: RedisInvocationStore;
  let tokenA = '';
  let tokenB = '';
  let orgA = '';
  /** Invocations of org A: finished (Completed, with a stored log), running (Processing), and org B's. */
  let done = '';
  let running = '';
  let otherOrgs = '';

  /** The CLI with this token ('' for none) and nothing else of the API's in its environment. */
  const cli = (args: string[], token = tokenA, extra: Record<string, string> = {}) =>
    queue().cli(args, {
      ACTION_WORKER_API_TOKEN: token,
      ROBOTO_API_KEY: '',
      ACTION_WORKER_API_ENDPOINT: '',
      ...extra,
    });

  const read = async (args: string[], token = tokenA) => {
    const result = await cli([...args, '--endpoint', api.url], token);
    expect(result.stdout + result.stderr).not.toContain(token);
    return result;
  };

  const ok = async (args: string[], token = tokenA) => {
    const result = await read(args, token);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  };

  beforeAll(async () => {
    // On the store the CLI's `datasets import` writes: serve answers for the same datasets.
    server = await apiTestServerOn(queue(), {
      name: 'endpoint',
      orgs: [
        { name: 'endpoint-a', tokenName: 'cli' },
        { name: 'endpoint-b', tokenName: 'cli' },
      ],
    });
    ({ api } = server);
    const [a, b] = server.orgs as [TestOrg, TestOrg];
    orgA = a.orgId;
    const orgB = b.orgId;
    tokenA = a.token;
    tokenB = b.token;
    store = queue().store();
    otherOrgs = await queue().invoke(['--image', 'img:other', '--org-id', orgB]);
    done = await queue().invoke(['--image', 'img:done', '--org-id', orgA]);
    running = await queue().invoke(['--image', 'img:running', '--org-id', orgA]);
    await store.transition(done, InvocationStatus.Scheduled, null);
    await store.transition(done, InvocationStatus.Processing, null);
    await store.setLog(
      done,
      '2026-11-30T10:00:00.000Z stdout  line one\n2026-11-30T10:00:01.000Z stdout  line two\n',
    );
    await store.transition(done, InvocationStatus.Completed, 'all good');
    await store.transition(running, InvocationStatus.Scheduled, null);
    await store.transition(running, InvocationStatus.Processing, null);
  });

  afterAll(async () => {
    await server.close();
  });

  it('shows an invocation as the API has it: the wire record with --json, its history otherwise', async () => {
    const wire = InvocationRecordWire.parse(JSON.parse(await ok(['invocations', 'show', done, '--json'])));
    expect(wire).toMatchObject({
      invocation_id: done,
      org_id: orgA,
      last_status: InvocationStatus.Completed,
    });
    // The wire record (provenance, duration), not the Redis record (request, attempt).
    const raw = JSON.parse(await ok(['invocations', 'show', done, '--json'])) as Record<string, unknown>;
    expect(raw).toHaveProperty('provenance');
    expect(raw).not.toHaveProperty('request');

    const human = await ok(['invocations', 'show', done]);
    expect(human).toContain(`invocation  ${done}`);
    expect(human).toMatch(/status {6}Completed \(all good\)\n/);
    expect(human).toContain(`org         ${orgA}`);
    expect(human).toContain('image       img:done');
    expect(human).toMatch(/history\n.*Queued\n.*Scheduled\n.*Processing\n.*Completed {2}all good/);
    expect(await ok(['invocations', 'show', running])).toContain('Processing (not finished)');
  });

  it("lists the caller's org's invocations, newest first, by status and limit", async () => {
    const all = InvocationRecordWire.array().parse(JSON.parse(await ok(['invocations', 'list', '--json'])));
    expect(all.map((record) => record.invocation_id)).toEqual([running, done]);
    const completed = InvocationRecordWire.array().parse(
      JSON.parse(await ok(['invocations', 'list', '--status', 'completed', '--json'])),
    );
    expect(completed.map((record) => record.invocation_id)).toEqual([done]);
    const limited = InvocationRecordWire.array().parse(
      JSON.parse(await ok(['invocations', 'list', '--limit', '1', '--json'])),
    );
    expect(limited.map((record) => record.invocation_id)).toEqual([running]);
    const lines = (await ok(['invocations', 'list'])).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^${running}  Processing .*img:running$`));
    expect(lines[1]).toMatch(new RegExp(`^${done}  Completed .*img:done$`));
  });

  it('prints the log lines, and follows a running invocation to its end', async () => {
    expect(await ok(['invocations', 'logs', done])).toBe('line one\nline two');
    expect(await ok(['invocations', 'logs', done, '--follow'])).toBe('line one\nline two');

    await store.appendLiveLog(running, 1, 'live one\n');
    const follower = execa(
      'node',
      [cliPath, 'invocations', 'logs', running, '--follow', '--endpoint', api.url],
      {
        cwd: projectRoot,
        env: { ...queue().env, ACTION_WORKER_API_TOKEN: tokenA, ROBOTO_API_KEY: '' },
        reject: false,
      },
    );
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      follower.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('live one\n')) resolve();
      });
      follower.on('exit', () => {
        reject(new Error(`logs --follow ended early: ${seen}`));
      });
    });
    // What the worker does at the end: the whole log stored, then the final status.
    await store.setLog(
      running,
      '2026-11-30T10:00:00.000Z stdout  live one\n2026-11-30T10:00:01.000Z stdout  live two\n',
    );
    await store.transition(running, InvocationStatus.Completed, null);
    const result = await follower;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe('live one\nlive two');
    expect(result.stdout + result.stderr).not.toContain(tokenA);
  });

  it('waits with the exit codes of the Redis wait', async () => {
    const finished = await read(['invocations', 'wait', done]);
    expect(finished.exitCode, finished.stderr).toBe(0);
    expect(finished.stderr).toContain(`${done} Completed (all good)`);

    const pending = await queue().invoke(['--image', 'img:pending', '--org-id', orgA]);
    const timedOut = await read(['invocations', 'wait', pending, '--timeout', '1ms']);
    expect(timedOut.exitCode).toBe(75);
    expect(timedOut.stderr).toContain(`invocation ${pending} is still Queued: the wait ran out`);

    await store.transition(pending, InvocationStatus.Cancelled, 'stop');
    expect((await read(['invocations', 'wait', pending])).exitCode).toBe(130);
  });

  it("answers another org's invocation exactly as a missing one, on every read command", async () => {
    for (const command of [
      ['invocations', 'show'],
      ['invocations', 'logs'],
      ['invocations', 'logs', '--follow'],
      ['invocations', 'wait'],
    ]) {
      const missing = await read([...command.slice(0, 2), 'iv_nosuchthing', ...command.slice(2)]);
      expect(missing.exitCode).toBe(64);
      expect(missing.stderr).toContain('RobotoNotFoundException');
      const result = await read([...command.slice(0, 2), otherOrgs, ...command.slice(2)]);
      expect(result.exitCode, command.join(' ')).toBe(64);
      expect(result.stderr.replaceAll(otherOrgs, 'ID')).toBe(
        missing.stderr.replaceAll('iv_nosuchthing', 'ID'),
      );
      expect(result.stdout).toBe('');
    }
    // And org B sees its own, not A's.
    const listed = JSON.parse(await ok(['invocations', 'list', '--json'], tokenB)) as {
      invocation_id: string;
    }[];
    expect(listed.map((record) => record.invocation_id)).toEqual([otherOrgs]);
  });

  it('reads actions (A6, A2) of the org, and not those of another', async () => {
    const file = path.join(await tempDir('endpoint-action'), 'action.json');
    await writeFile(file, JSON.stringify({ name: 'tag-dataset', image_uri: 'img:1' }));
    const created = await queue().cli(['actions', 'create', '--from-file', file, '--org', orgA]);
    expect(created.exitCode, created.stderr).toBe(0);
    const digest = (JSON.parse(created.stdout) as { digest: string }).digest;

    const listed = JSON.parse(await ok(['actions', 'list', '--org', orgA])) as { name: string }[];
    expect(listed.map((action) => action.name)).toEqual(['tag-dataset']);
    const shown = JSON.parse(await ok(['actions', 'show', 'tag-dataset', '--org', orgA, '--digest', digest]));
    expect(shown).toMatchObject({ name: 'tag-dataset', org_id: orgA, digest, uri: 'img:1' });

    const foreign = await read(['actions', 'show', 'tag-dataset', '--org', orgA], tokenB);
    expect(foreign.exitCode).toBe(64);
    expect(foreign.stderr).toContain('RobotoNotFoundException');
    expect(foreign.stdout).toBe('');
  });

  it("reads the org's datasets and their files (D5, D2, D6), and not another org's", async () => {
    const folder = await tempDir('endpoint-dataset');
    await writeFile(path.join(folder, 'a.txt'), 'alpha');
    await writeFile(path.join(folder, 'b.txt'), 'bravo!');
    const imported = await queue().cli(['datasets', 'import', folder, '--org-id', orgA]);
    expect(imported.exitCode, imported.stderr).toBe(0);
    const datasetId = imported.stdout.trim();

    const listed = JSON.parse(await ok(['datasets', 'list', '--json'])) as { dataset_id: string }[];
    expect(listed.map((dataset) => dataset.dataset_id)).toEqual([datasetId]);
    expect(JSON.parse(await ok(['datasets', 'list', '--json'], tokenB))).toEqual([]);

    const shown = await ok(['datasets', 'show', datasetId]);
    expect(shown).toContain(datasetId);
    expect(shown).toMatch(/files: {7}2/);
    const files = await ok(['datasets', 'files', datasetId]);
    expect(files).toMatch(/^fl_\S+ {2}v1 +5 {2}a\.txt\n.* {2}v1 +6 {2}b\.txt$/);
    const wire = JSON.parse(await ok(['datasets', 'files', datasetId, '--json'])) as { uri: string }[];
    expect(wire.map((file) => file.uri)).toEqual([
      expect.stringMatching(/^action-worker:\/\//),
      expect.anything(),
    ]);

    for (const command of [['show'], ['files']]) {
      const foreign = await read(['datasets', ...command, datasetId], tokenB);
      expect(foreign.exitCode, command.join(' ')).toBe(64);
      expect(foreign.stderr).toContain(`RobotoDatasetNotFoundException: dataset ${datasetId} not found`);
      expect(foreign.stdout).toBe('');
    }
  });

  it('refuses a wrong or missing token clearly, never printing it', async () => {
    const wrong = `${tokenA.slice(0, -4)}XXXX`;
    const refused = await read(['invocations', 'show', done], wrong);
    expect(refused.exitCode).toBe(64);
    expect(refused.stderr).toMatch(/401|Unauthorized|token/i);
    expect(refused.stdout).toBe('');

    const none = await cli(['invocations', 'list', '--endpoint', api.url], '');
    expect(none.exitCode).toBe(64);
    expect(none.stderr).toBe(
      'action-worker: --endpoint needs an API token in ACTION_WORKER_API_TOKEN or ROBOTO_API_KEY',
    );
    // The Roboto SDK's variable works too, and the endpoint may come from the environment.
    const roboto = await cli(['invocations', 'show', done, '--json'], '', {
      ROBOTO_API_KEY: tokenA,
      ACTION_WORKER_API_ENDPOINT: api.url,
    });
    expect(roboto.exitCode, roboto.stderr).toBe(0);
    expect(JSON.parse(roboto.stdout)).toMatchObject({ invocation_id: done });
  });

  it('names the URL, not the token, when the API cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as { port: number };
    await new Promise((resolve) => closed.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    const result = await cli(['invocations', 'show', done, '--endpoint', url]);
    expect(result.exitCode).toBe(70);
    expect(result.stderr).toContain(`cannot reach the API at ${url}`);
    expect(result.stdout + result.stderr).not.toContain(tokenA);
  });

  it('without --endpoint (or with an empty ACTION_WORKER_API_ENDPOINT) still reads Redis', async () => {
    // cli() sets ACTION_WORKER_API_ENDPOINT to '' and a token: neither turns the API on.
    const result = await cli(['invocations', 'show', done, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveProperty('request');
  });
});
