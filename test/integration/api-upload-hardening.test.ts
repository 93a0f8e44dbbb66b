import { readdirSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUploadTransactionStore } from '../../src/adapters/redis/redis-upload-transaction-store.js';
import { type UploadRouteOptions } from '../../src/api/routes/uploads.js';
import { buildApiServer } from '../../src/api/server.js';
import { openTenancyStore } from '../../src/app/tenancy.js';
import type { DataStore } from '../../src/ports/data-store.js';
import type { UploadTransactionStore } from '../../src/ports/upload-transaction-store.js';
import { withTimeout } from '../../src/util/with-timeout.js';
import { eventually } from '../support/poll.js';
import { removeTempDirs } from '../support/temp-dirs.js';
import { type UploadBackends, type UploadTestOrg, openUploadBackends } from '../support/upload-backends.js';

/**
 * The attacks on the upload routes a review found, each over a real loopback socket against the real Redis
 * transaction store, the real data store and real tokens: bodies of another type, a stalled body, unbounded
 * transactions, a complete racing its expiry or another complete, a PUT during a complete, and another
 * principal of the same org. The store and the transaction store are wrapped only to hold a step at a gate.
 */

let store: DataStore;
let transactions: RedisUploadTransactionStore;
let tenancy: ReturnType<typeof openTenancyStore>;
let tokenA: string;
let stagingDir: string;
let tokenA2: string;
let actionToken: string;
let orgAId: string;
const servers: FastifyInstance[] = [];

/** Steps held at a gate by the test that sets them. */
const hooks: { beforePutFiles?: () => Promise<void>; beforeMarkCompleted?: () => Promise<void> } = {};

let backends: UploadBackends;

beforeAll(async () => {
  backends = await openUploadBackends({
    name: 'api-upload-hardening',
    orgs: [{ name: 'hardening-a', tokens: ['a', 'a2'] }],
  });
  ({ stagingDir, tenancy, transactions, store, actionToken } = backends);
  const [orgA] = backends.orgs as [UploadTestOrg];
  orgAId = orgA.orgId;
  tokenA = orgA.tokens.a!;
  tokenA2 = orgA.tokens.a2!;
});

afterAll(async () => {
  try {
    // A server still holding a stalled connection must not keep the keys from being deleted.
    await Promise.allSettled(servers.map((app) => withTimeout(app.close(), 5_000)));
  } finally {
    await backends.close();
    await removeTempDirs();
  }
});

/** A server over the shared stores, its putFiles and markCompleted held by `hooks`; answers its URL. */
async function server(
  uploads: Partial<UploadRouteOptions> = {},
  wrap: (inner: UploadTransactionStore) => UploadTransactionStore = (inner) => inner,
): Promise<string> {
  const gatedStore = new Proxy(store, {
    get(target, name, receiver) {
      if (name === 'putFiles') {
        return async (...args: Parameters<DataStore['putFiles']>) => {
          await hooks.beforePutFiles?.();
          return target.putFiles(...args);
        };
      }
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const gatedTransactions = new Proxy<UploadTransactionStore>(transactions, {
    get(target, name, receiver) {
      if (name === 'markCompleted') {
        return async (...args: Parameters<UploadTransactionStore['markCompleted']>) => {
          await hooks.beforeMarkCompleted?.();
          return target.markCompleted(...args);
        };
      }
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const app = await buildApiServer({
    store: gatedStore,
    authenticator: tenancy,
    orgs: tenancy,
    readiness: {},
    logger: pino({ level: 'silent' }),
    limits: { bodyLimitBytes: 1024 * 1024, requestTimeoutMs: 60_000 },
    uploads: { transactions: wrap(gatedTransactions), stagingDir, ...uploads },
  });
  servers.push(app);
  return app.listen({ host: '127.0.0.1', port: 0 });
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read what the SDK reads
  json: any;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

async function call(url: string, init: { method?: string; token?: string; body?: unknown } = {}) {
  return answerOf(
    await fetch(url, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        authorization: `Bearer ${init.token ?? tokenA}`,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    }),
  );
}

async function putBytes(url: string, bytes: Buffer, token = tokenA): Promise<Answer> {
  return answerOf(
    await fetch(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    }),
  );
}

interface Begun {
  transaction_id: string;
  upload_mappings: Record<string, string>;
}

async function newDataset(): Promise<string> {
  return (await store.createDataset({ orgId: orgAId })).dataset_id;
}

async function begin(url: string, manifest: Record<string, number>, token = tokenA): Promise<Answer> {
  return call(`${url}/v1/files/upload`, {
    token,
    body: {
      association: { association_id: await newDataset(), association_type: 'dataset' },
      resource_manifest: manifest,
    },
  });
}

async function begun(url: string, manifest: Record<string, number>, token = tokenA): Promise<Begun> {
  const answer = await begin(url, manifest, token);
  expect(answer.status, JSON.stringify(answer.json)).toBe(200);
  return answer.json.data as Begun;
}

/** Everything left in the transaction's staging directory (files, at any depth). */
async function stagedFiles(txn: string): Promise<string[]> {
  const entries = await readdir(path.join(stagingDir, txn), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
}

/** This process's open descriptors on anything under the transaction's staging directory. */
function openUnder(txn: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.includes(path.join(stagingDir, txn)) ? [target] : [];
    } catch {
      return [];
    }
  });
}

describe('API upload hardening', () => {
  it('refuses a content PUT that is not application/octet-stream (415), leaking no descriptor, keeping nothing', async () => {
    const url = await server();
    const { transaction_id: txn, upload_mappings: mappings } = await begun(url, { 'a.json': 7 });
    for (let round = 0; round < 50; round += 1) {
      const answer = await answerOf(
        await fetch(mappings['a.json']!, {
          method: 'PUT',
          headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/json' },
          body: '{"a":1}',
        }),
      );
      expect(answer.status).toBe(415);
      expect(answer.json.error.message).toContain('application/octet-stream');
    }
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await answerOf(
        await fetch(mappings['a.json']!, {
          method: 'PUT',
          headers: { authorization: `Bearer ${tokenA}`, 'content-type': type },
          body: '{"a":1}',
        }),
      );
      expect(answer.status, type).toBe(415);
    }
    expect(openUnder(txn)).toEqual([]);
    expect(await stagedFiles(txn)).toEqual([]);
    // The right type still takes the bytes.
    expect((await putBytes(mappings['a.json']!, Buffer.from('{"a":1}'))).status).toBe(200);
    expect(openUnder(txn)).toEqual([]);
  });

  it('cuts off a body that stalls for the idle timeout (408), keeping nothing of it', async () => {
    const url = await server({ idleTimeoutMs: 300 });
    const { transaction_id: txn, upload_mappings: mappings } = await begun(url, { 'slow.bin': 1000 });
    const target = new URL(mappings['slow.bin']!);
    const socket = connect(Number(target.port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    const ended = new Promise<void>((resolve) =>
      socket.once('close', () => {
        resolve();
      }),
    );
    socket.write(
      `PUT ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: Bearer ${tokenA}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n',
    );
    socket.write(Buffer.alloc(100, 1));
    // Then nothing: the server answers and closes the connection; the test never closes it itself.
    await ended;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toContain('sent nothing for 300 ms');
    expect(await stagedFiles(txn)).toEqual([]);
    expect(openUnder(txn)).toEqual([]);
  });

  it('refuses a begin declaring more bytes than api.uploadMaxTransactionBytes (413), naming the limit', async () => {
    const url = await server({ maxTransactionBytes: 100 });
    for (const manifest of [{ 'a.bin': 60, 'b.bin': 41 }, { 'one.bin': 101 }] as Record<string, number>[]) {
      const answer = await begin(url, manifest);
      expect(answer.status).toBe(413);
      expect(answer.json.error.message).toContain('api.uploadMaxTransactionBytes');
      expect(answer.json.error.message).toContain('at most 100');
    }
    expect((await begin(url, { 'a.bin': 60, 'b.bin': 40 })).status).toBe(200);
  });

  it('refuses a begin beyond api.uploadMaxPendingPerOrg (400) until one completes', async () => {
    const org = await tenancy.createOrg({ name: 'hardening-pending' });
    const token = (await tenancy.createToken({ orgId: org.org_id, name: 'p' })).token;
    const url = await server({ maxPendingPerOrg: 2 });
    const dataset = async () => (await store.createDataset({ orgId: org.org_id })).dataset_id;
    const beginIn = async () =>
      call(`${url}/v1/files/upload`, {
        token,
        body: {
          association: { association_id: await dataset(), association_type: 'dataset' },
          resource_manifest: { 'a.txt': 1 },
        },
      });
    const first = await beginIn();
    expect(first.status).toBe(200);
    expect((await beginIn()).status).toBe(200);
    const refused = await beginIn();
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toContain('api.uploadMaxPendingPerOrg');
    // Another org is not held back by it.
    const other = await tenancy.createOrg({ name: 'hardening-pending-other' });
    const otherToken = (await tenancy.createToken({ orgId: other.org_id, name: 'o' })).token;
    const otherDataset = (await store.createDataset({ orgId: other.org_id })).dataset_id;
    const elsewhere = await call(`${url}/v1/files/upload`, {
      token: otherToken,
      body: {
        association: { association_id: otherDataset, association_type: 'dataset' },
        resource_manifest: { 'a.txt': 1 },
      },
    });
    expect(elsewhere.status).toBe(200);
    const { transaction_id: txn, upload_mappings: mappings } = first.json.data as Begun;
    expect((await putBytes(mappings['a.txt']!, Buffer.from('x'), token)).status).toBe(200);
    expect((await call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT', token })).status).toBe(200);
    expect((await beginIn()).status).toBe(200);
  });

  it('sweeps staging directories left behind on a timer, with no begin', async () => {
    const gone = 'ut_sweeptimergone000000';
    await mkdir(path.join(stagingDir, gone), { recursive: true });
    await writeFile(path.join(stagingDir, gone, '0'), 'x');
    const old = new Date(Date.now() - 2 * 60 * 60_000);
    await utimes(path.join(stagingDir, gone), old, old);
    await server({ sweepIntervalMs: 100 });
    await eventually(
      async () => ((await readdir(stagingDir)).includes(gone) ? undefined : true),
      10_000,
      'the left-behind staging directory to be swept',
    );
  });

  it('completes a transaction that would have expired while its files were stored: 200, and 200 again', async () => {
    const url = await server({ ttlMs: 1_500 });
    const { transaction_id: txn, upload_mappings: mappings } = await begun(url, { 'a.txt': 3 });
    const declaredExpiry = Date.parse((await transactions.get(txn))!.expires);
    expect((await putBytes(mappings['a.txt']!, Buffer.from('abc'))).status).toBe(200);
    // The files are stored only once the transaction's begin-time expiry has passed (a long copy).
    hooks.beforePutFiles = async () => {
      await eventually(
        () => Promise.resolve(Date.now() > declaredExpiry + 200 ? true : undefined),
        10_000,
        'the expiry',
      );
    };
    try {
      const answer = await call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT' });
      expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    } finally {
      delete hooks.beforePutFiles;
    }
    const again = await call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT' });
    expect(again.status).toBe(200);
    const stored = await transactions.get(txn);
    expect(stored?.status).toBe('completed');
    const files = await store.listFiles(stored!.dataset_id);
    expect(files.map((file) => file.record.relative_path)).toEqual(['a.txt']);
    expect(await stagedFiles(txn)).toEqual([]);
  });

  it('answers 200 to both of two completes at once, storing the files once', async () => {
    const url = await server();
    const { transaction_id: txn, upload_mappings: mappings } = await begun(url, { 'a.txt': 3 });
    expect((await putBytes(mappings['a.txt']!, Buffer.from('abc'))).status).toBe(200);
    // Both pass their arrival check; the second stores only after the first removed the staged bytes.
    let calls = 0;
    let secondEntered!: () => void;
    const second = new Promise<void>((resolve) => (secondEntered = resolve));
    let firstDone!: () => void;
    const first = new Promise<void>((resolve) => (firstDone = resolve));
    hooks.beforePutFiles = async () => {
      calls += 1;
      if (calls === 1) await second;
      else {
        secondEntered();
        await first;
      }
    };
    try {
      const a = call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT' }).then((answer) => {
        firstDone();
        return answer;
      });
      const b = call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT' });
      const answers = await Promise.all([a, b]);
      expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    } finally {
      delete hooks.beforePutFiles;
    }
    const stored = await transactions.get(txn);
    expect(stored?.status).toBe('completed');
    const files = await store.listFiles(stored!.dataset_id);
    expect(files.map((file) => [file.record.relative_path, file.record.version])).toEqual([['a.txt', 1]]);
  });

  it('refuses a PUT to a transaction that is completing (409), storing the bytes that were there', async () => {
    const url = await server();
    const { transaction_id: txn, upload_mappings: mappings } = await begun(url, { 'a.txt': 3 });
    expect((await putBytes(mappings['a.txt']!, Buffer.from('old'))).status).toBe(200);
    let reached!: () => void;
    const atGate = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    hooks.beforePutFiles = async () => {
      reached();
      await gate;
    };
    try {
      const completing = call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT' });
      await atGate;
      const late = await putBytes(mappings['a.txt']!, Buffer.from('new'));
      expect(late.status).toBe(409);
      expect(late.json.error.message).toContain('completing');
      release();
      expect((await completing).status).toBe(200);
    } finally {
      delete hooks.beforePutFiles;
    }
    const [file] = await store.listFiles((await transactions.get(txn))!.dataset_id);
    expect(await readFile(await store.contentPath(file!), 'utf8')).toBe('old');
  });

  it('answers another principal of the same org as if the transaction did not exist (404), both ways', async () => {
    const url = await server();
    const cases = [
      { beganBy: tokenA, others: [actionToken, tokenA2] },
      { beganBy: actionToken, others: [tokenA, tokenA2] },
    ];
    for (const { beganBy, others } of cases) {
      const { transaction_id: txn, upload_mappings: mappings } = await begun(url, { 'a.txt': 3 }, beganBy);
      for (const other of others) {
        const put = await putBytes(mappings['a.txt']!, Buffer.from('abc'), other);
        expect(put.status).toBe(404);
        expect(put.json.error.message).toContain(`upload transaction ${txn} not found`);
        for (const [method, suffix, body] of [
          ['PUT', 'progress', { manifest_items: [mappings['a.txt']!] }],
          ['PUT', 'complete', undefined],
          ['GET', 'credentials', undefined],
        ] as const) {
          const answer = await call(`${url}/v1/files/upload/${txn}/${suffix}`, {
            method,
            token: other,
            body,
          });
          expect(answer.status, suffix).toBe(404);
        }
      }
      expect(await stagedFiles(txn)).toEqual([]);
      // The one that began it carries it through.
      expect((await putBytes(mappings['a.txt']!, Buffer.from('abc'), beganBy)).status).toBe(200);
      expect(
        (await call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT', token: beganBy })).status,
      ).toBe(200);
      // Completed, it is still not another principal's to read.
      expect(
        (await call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT', token: others[0] })).status,
      ).toBe(404);
    }
  });
});
