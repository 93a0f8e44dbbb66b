import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUploadTransactionStore } from '../../src/adapters/redis/redis-upload-transaction-store.js';
import { type RunningApi, startApiServer } from '../../src/app/api-server.js';
import { openTenancyStore } from '../../src/app/tenancy.js';
import { WorkerSettings } from '../../src/config/worker-settings.js';
import { buildApiServer } from '../../src/api/server.js';
import { eventually } from '../support/poll.js';
import type { DataStore } from '../../src/ports/data-store.js';
import { removeTempDirs } from '../support/temp-dirs.js';
import { type UploadBackends, type UploadTestOrg, openUploadBackends } from '../support/upload-backends.js';

/**
 * API uploads (spec §11.2, §11.3) over real sockets against serve on 127.0.0.1, with real Redis and real
 * tokens: begin, the bytes to our own content route, progress, complete; and the attacks (another org's
 * token, traversing paths, bodies larger than declared, paths not declared).
 */

let api: RunningApi;
let settings: WorkerSettings;
let store: DataStore;
let transactions: RedisUploadTransactionStore;
let tenancy: ReturnType<typeof openTenancyStore>;
let tokenA: string;
let tokenB: string;
let actionToken: string;
let invocationId: string;
let stagingDir: string;

let backends: UploadBackends;

beforeAll(async () => {
  backends = await openUploadBackends({
    name: 'api-uploads',
    orgs: [
      { name: 'uploads-a', tokens: ['a'] },
      { name: 'uploads-b', tokens: ['b'] },
    ],
    api: { host: '127.0.0.1', port: 0 },
  });
  ({ settings, stagingDir, tenancy, transactions, store, invocationId, actionToken } = backends);
  const [orgA, orgB] = backends.orgs as [UploadTestOrg, UploadTestOrg];
  tokenA = orgA.tokens.a!;
  tokenB = orgB.tokens.b!;
  api = await startApiServer(settings, { logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  try {
    await api.stop({ force: true });
  } finally {
    await backends.close();
    await removeTempDirs();
  }
});

/** What a begin answers. */
interface Begun {
  transaction_id: string;
  upload_mappings: Record<string, string>;
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read what the SDK reads
  json: any;
}

async function call(
  urlPath: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<Answer> {
  const url = urlPath.startsWith('http') ? urlPath : `${api.url}${urlPath}`;
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${init.token ?? tokenA}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

/** PUTs raw bytes (to an upload mapping), as one buffer or, `streamed`, chunked without a length. */
async function putBytes(
  url: string,
  bytes: Buffer,
  options: { token?: string; streamed?: boolean } = {},
): Promise<Answer> {
  const body = options.streamed
    ? new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 64 * 1024)
            controller.enqueue(bytes.subarray(at, at + 64 * 1024));
          controller.close();
        },
      })
    : bytes;
  const response = await fetch(url, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${options.token ?? tokenA}`,
      'content-type': 'application/octet-stream',
    },
    body,
    // Node's fetch streams a ReadableStream body only half-duplex (not in the DOM's RequestInit type).
    ...(options.streamed ? { duplex: 'half' } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function newDataset(token = tokenA): Promise<string> {
  const answer = await call('/v1/datasets', { token, body: { name: 'uploads', metadata: {}, tags: [] } });
  expect(answer.status).toBe(200);
  return answer.json.data.dataset_id as string;
}

async function begin(datasetId: string, manifest: Record<string, number>, token = tokenA): Promise<Answer> {
  return call('/v1/files/upload', {
    token,
    body: {
      association: { association_id: datasetId, association_type: 'dataset' },
      origination: 'api-uploads test',
      resource_manifest: manifest,
      device_id: null,
    },
  });
}

interface StoredWire {
  relative_path: string;
  file_id: string;
  version: number;
  size: number;
}

async function datasetFiles(datasetId: string): Promise<StoredWire[]> {
  const answer = await call(`/v1/datasets/${datasetId}/files/query`, {
    body: { page_token: null, include_patterns: null, exclude_patterns: null },
  });
  expect(answer.status).toBe(200);
  return (answer.json.data as { items: StoredWire[] }).items;
}

/** The files staged (not directories) for the transaction, at any depth. */
async function stagedFiles(txn: string): Promise<string[]> {
  const entries = await readdir(path.join(stagingDir, txn), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
}

const CONTENT: Record<string, Buffer> = {
  'drive/a.bag': Buffer.from('rosbag bytes'),
  'drive/b c+d.yaml': Buffer.from('key: value\n'),
  'empty.txt': Buffer.alloc(0),
  'big.bin': Buffer.alloc(300 * 1024, 7),
};
const sizes = Object.fromEntries(Object.entries(CONTENT).map(([key, bytes]) => [key, bytes.length]));

describe('API uploads', () => {
  it('makes the files visible only once complete, each readable through its signed URL', async () => {
    const datasetId = await newDataset();
    const begun = await begin(datasetId, sizes);
    expect(begun.status).toBe(200);
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    expect(txn).toMatch(/^ut_/);
    expect(Object.keys(mappings).sort()).toEqual(Object.keys(CONTENT).sort());
    expect(mappings['drive/b c+d.yaml']!).toBe(
      `${api.url}/v1/files/upload/${txn}/content/drive%2Fb%20c%2Bd.yaml`,
    );

    // A retried PUT replaces the bytes: the first, wrong ones of the right size are not what is stored.
    expect((await putBytes(mappings['drive/a.bag']!, Buffer.from('WRONG bytes!'))).status).toBe(200);
    for (const [datasetPath, bytes] of Object.entries(CONTENT)) {
      const put = await putBytes(mappings[datasetPath]!, bytes, { streamed: datasetPath === 'big.bin' });
      expect(put.status, datasetPath).toBe(200);
    }
    const progress = await call(`/v1/files/upload/${txn}/progress`, {
      method: 'PUT',
      body: { manifest_items: Object.values(mappings) },
    });
    expect(progress.status).toBe(200);
    expect(progress.json.data).toEqual(Object.keys(CONTENT).sort());
    expect(await datasetFiles(datasetId)).toEqual([]);
    expect((await stagedFiles(txn)).length).toBe(4);

    const complete = await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT' });
    expect(complete.status).toBe(200);
    const files = await datasetFiles(datasetId);
    expect(files.map((file) => [file.relative_path, file.size, file.version])).toEqual(
      Object.keys(CONTENT)
        .sort()
        .map((key) => [key, CONTENT[key]!.length, 1]),
    );
    const query = await call('/v1/files/query', {
      body: { condition: { field: 'dataset_id', comparator: 'EQUALS', value: datasetId } },
    });
    const queried = query.json.data.items as { origination: string }[];
    expect(queried.map((file) => file.origination)).toEqual(Array(4).fill('api-uploads test'));
    for (const file of files) {
      const signed = await call(`/v1/files/${file.file_id}/signed-url`);
      const content = Buffer.from(await (await fetch(signed.json.data.url as string)).arrayBuffer());
      expect(content.equals(CONTENT[file.relative_path]!), file.relative_path).toBe(true);
    }
    expect(await stagedFiles(txn)).toEqual([]);
    expect(await readdir(stagingDir)).not.toContain(txn);

    // A second completion is the same completion: the same files, no other version.
    const again = await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT' });
    expect(again.status).toBe(200);
    expect(await datasetFiles(datasetId)).toEqual(files);
    const stored = await transactions.get(txn);
    expect(stored).toMatchObject({ status: 'completed', source_invocation_id: null });
    expect([...stored!.file_ids].sort()).toEqual(files.map((file) => file.file_id).sort());
    // Bytes for a completed transaction are refused.
    expect((await putBytes(mappings['empty.txt']!, Buffer.alloc(0))).status).toBe(409);
  });

  it("answers another org's token as if the transaction (or the dataset) did not exist", async () => {
    const datasetId = await newDataset();
    expect((await begin(datasetId, { 'a.bag': 3 }, tokenB)).status).toBe(404);
    const begun = await begin(datasetId, { 'a.bag': 3 });
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    const put = await putBytes(mappings['a.bag']!, Buffer.from('abc'), { token: tokenB });
    expect(put.status).toBe(404);
    expect(put.json.error.error_code).toBe('RobotoNotFoundException');
    expect(await stagedFiles(txn)).toEqual([]);
    for (const [method, suffix, body] of [
      ['PUT', 'progress', { manifest_items: [mappings['a.bag']!] }],
      ['PUT', 'complete', undefined],
      ['GET', 'credentials', undefined],
    ] as const) {
      const answer = await call(`/v1/files/upload/${txn}/${suffix}`, { method, token: tokenB, body });
      expect(answer.status, suffix).toBe(404);
      expect(answer.json.error.message).toContain(`upload transaction ${txn} not found`);
    }
    // The owner's transaction is untouched by all that.
    expect((await putBytes(mappings['a.bag']!, Buffer.from('abc'))).status).toBe(200);
    expect((await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT' })).status).toBe(200);
    expect((await datasetFiles(datasetId)).map((file) => file.relative_path)).toEqual(['a.bag']);
  });

  it('refuses traversing, absolute and empty paths, naming the path, and begins nothing', async () => {
    const datasetId = await newDataset();
    for (const bad of ['../escape.txt', 'a/../../escape.txt', '/etc/passwd', '', 'a/./b', 'dir/']) {
      const answer = await begin(datasetId, { 'fine.txt': 1, [bad]: 1 });
      expect(answer.status, bad).toBe(400);
      expect(answer.json.error.message).toContain(JSON.stringify(bad));
    }
    const negative = await begin(datasetId, { 'a.txt': -1 });
    expect(negative.status).toBe(400);
    expect(negative.json.error.message).toContain('"a.txt"');
    expect((await begin(datasetId, { 'a.txt': 1.5 })).status).toBe(400);
    expect((await begin(datasetId, {})).status).toBe(400);
    expect((await begin('ds_doesnotexist', { 'a.txt': 1 })).json.error.error_code).toBe(
      'RobotoDatasetNotFoundException',
    );
  });

  it('refuses a body larger than declared (413), or shorter (400), keeping nothing of it', async () => {
    const datasetId = await newDataset();
    const begun = await begin(datasetId, { 'small.bin': 10, 'big.bin': 100_000 });
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    const withLength = await putBytes(mappings['small.bin']!, Buffer.alloc(11));
    expect(withLength.status).toBe(413);
    expect(withLength.json.error.message).toContain('10 bytes declared');
    // Without a Content-Length, the count while streaming refuses it.
    const streamed = await putBytes(mappings['big.bin']!, Buffer.alloc(5 * 1024 * 1024), { streamed: true });
    expect(streamed.status).toBe(413);
    const short = await putBytes(mappings['small.bin']!, Buffer.alloc(9));
    expect(short.status).toBe(400);
    expect(short.json.error.message).toContain('9 of the 10 bytes');
    expect(await stagedFiles(txn)).toEqual([]);
    // A refused body leaves what arrived before it.
    expect((await putBytes(mappings['small.bin']!, Buffer.alloc(10, 1))).status).toBe(200);
    expect((await putBytes(mappings['small.bin']!, Buffer.alloc(11), { streamed: true })).status).toBe(413);
    expect((await stagedFiles(txn)).length).toBe(1);
    const missing = await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT' });
    expect(missing.status).toBe(400);
    expect(missing.json.error.message).toContain('"big.bin" (nothing arrived)');
  });

  it('keeps nothing of a body whose client goes away mid-way', async () => {
    const datasetId = await newDataset();
    const begun = await begin(datasetId, { 'cut.bin': 1_000_000 });
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    const target = new URL(mappings['cut.bin']!);
    const socket = connect(Number(target.port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      `PUT ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nAuthorization: Bearer ${tokenA}\r\n` +
        'Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n',
    );
    socket.write(Buffer.alloc(200_000, 1));
    // The server is streaming it once its temporary file is there; then the client goes.
    await eventually(
      async () => ((await stagedFiles(txn)).some((file) => file.endsWith('.part')) ? true : undefined),
      10_000,
      'the body to be streamed to a temporary file',
    );
    socket.destroy();
    await eventually(
      async () => ((await stagedFiles(txn)).length === 0 ? true : undefined),
      10_000,
      'the temporary file to be removed',
    );
    const complete = await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT' });
    expect(complete.status).toBe(400);
    expect(complete.json.error.message).toContain('"cut.bin" (nothing arrived)');
  });

  it('refuses a path not in the manifest, an item not of the transaction, and an unknown transaction', async () => {
    const datasetId = await newDataset();
    const begun = await begin(datasetId, { 'a.bag': 3 });
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    const undeclared = await putBytes(
      `${api.url}/v1/files/upload/${txn}/content/${encodeURIComponent('b.bag')}`,
      Buffer.from('abc'),
    );
    expect(undeclared.status).toBe(400);
    expect(undeclared.json.error.message).toContain('"b.bag" is not in');
    const traversal = await putBytes(
      `${api.url}/v1/files/upload/${txn}/content/${encodeURIComponent('../../../x')}`,
      Buffer.from('abc'),
    );
    expect(traversal.status).toBe(400);
    const other = await call(`/v1/files/upload/${txn}/progress`, {
      method: 'PUT',
      body: { manifest_items: ['s3://bucket/elsewhere/a.bag'] },
    });
    expect(other.status).toBe(400);
    expect(other.json.error.message).toContain('s3://bucket/elsewhere/a.bag');
    const early = await call(`/v1/files/upload/${txn}/progress`, {
      method: 'PUT',
      body: { manifest_items: [mappings['a.bag']!] },
    });
    expect(early.status).toBe(400);
    expect(early.json.error.message).toContain('"a.bag" (nothing arrived)');
    for (const unknown of ['ut_000000000000000000000', 'not-a-transaction']) {
      expect((await call(`/v1/files/upload/${unknown}/complete`, { method: 'PUT' })).status).toBe(404);
      expect(
        (await putBytes(`${api.url}/v1/files/upload/${unknown}/content/a.bag`, Buffer.from('abc'))).status,
      ).toBe(404);
    }
    expect(await stagedFiles(txn)).toEqual([]);
  });

  it('refuses a complete with a file missing, naming it, and stores nothing', async () => {
    const datasetId = await newDataset();
    const begun = await begin(datasetId, { 'a.bag': 3, 'b.yaml': 2 });
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    expect((await putBytes(mappings['a.bag']!, Buffer.from('abc'))).status).toBe(200);
    const answer = await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT' });
    expect(answer.status).toBe(400);
    expect(answer.json.error.message).toMatch(/1 file\(s\) not arrived whole: "b.yaml" \(nothing arrived\)/);
    expect(await datasetFiles(datasetId)).toEqual([]);
    expect((await transactions.get(txn))?.status).toBe('pending');
  });

  it('takes raw bytes on the content route only: other routes still refuse them (415)', async () => {
    for (const [method, route] of [
      ['POST', '/v1/datasets'],
      ['POST', '/v1/files/upload'],
    ] as const) {
      const response = await fetch(`${api.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${tokenA}`, 'content-type': 'application/octet-stream' },
        body: Buffer.from('{"name":"x"}'),
      });
      expect(response.status, route).toBe(415);
    }
  });

  it('answers credentials with 501, naming the byte path to use', async () => {
    const datasetId = await newDataset();
    const { transaction_id: txn } = (await begin(datasetId, { 'a.bag': 3 })).json.data as Begun;
    const answer = await call(`/v1/files/upload/${txn}/credentials`);
    expect(answer.status).toBe(501);
    expect(answer.json.error.error_code).toBe('RobotoServiceException');
    expect(answer.json.error.message).toContain(`PUT /v1/files/upload/${txn}/content/`);
  });

  it("records an invocation token's invocation as the transaction's lineage", async () => {
    const datasetId = await newDataset();
    const begun = await begin(datasetId, { 'out.txt': 2 }, actionToken);
    expect(begun.status).toBe(200);
    const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
    expect((await transactions.get(txn))?.source_invocation_id).toBe(invocationId);
    expect((await putBytes(mappings['out.txt']!, Buffer.from('ok'), { token: actionToken })).status).toBe(
      200,
    );
    expect(
      (await call(`/v1/files/upload/${txn}/complete`, { method: 'PUT', token: actionToken })).status,
    ).toBe(200);
    expect((await transactions.get(txn))?.source_invocation_id).toBe(invocationId);
    expect((await datasetFiles(datasetId)).map((file) => file.relative_path)).toEqual(['out.txt']);
  });

  it('is served by any replica sharing the store: bytes taken by one, completed by another', async () => {
    const replica = await startApiServer(settings, { logger: pino({ level: 'silent' }) });
    try {
      const datasetId = await newDataset();
      const begun = await begin(datasetId, { 'a.bag': 3, 'b.bag': 2 });
      const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
      expect((await putBytes(mappings['a.bag']!, Buffer.from('abc'))).status).toBe(200);
      const elsewhere = mappings['b.bag']!.replace(api.url, replica.url);
      expect((await putBytes(elsewhere, Buffer.from('de'))).status).toBe(200);
      const complete = await call(`${replica.url}/v1/files/upload/${txn}/complete`, { method: 'PUT' });
      expect(complete.status).toBe(200);
      expect((await datasetFiles(datasetId)).map((file) => [file.relative_path, file.size])).toEqual([
        ['a.bag', 3],
        ['b.bag', 2],
      ]);
    } finally {
      await replica.stop({ force: true });
    }
  });

  it('removes, at a begin, staging directories an hour old whose transaction is gone; keeps the others', async () => {
    const gone = 'ut_leftoverleftover0000';
    const fresh = 'ut_leftoverfresh0000000';
    const pendingDataset = await newDataset();
    const pending = (await begin(pendingDataset, { 'p.bin': 1 })).json.data as Begun;
    const old = new Date(Date.now() - 2 * 60 * 60_000);
    for (const name of [gone, fresh, pending.transaction_id, 'not-a-transaction']) {
      await mkdir(path.join(stagingDir, name), { recursive: true });
      await writeFile(path.join(stagingDir, name, '0'), 'x');
      if (name !== fresh) await utimes(path.join(stagingDir, name), old, old);
    }
    // A server of its own: the sweep runs at its first begin (then at most hourly).
    const replica = await startApiServer(settings, { logger: pino({ level: 'silent' }) });
    try {
      const datasetId = await newDataset();
      const answer = await call(`${replica.url}/v1/files/upload`, {
        body: {
          association: { association_id: datasetId, association_type: 'dataset' },
          resource_manifest: { 'x.bin': 1 },
        },
      });
      expect(answer.status).toBe(200);
      const left = await readdir(stagingDir);
      expect(left).not.toContain(gone);
      expect(left).toEqual(expect.arrayContaining([fresh, pending.transaction_id, 'not-a-transaction']));
    } finally {
      await replica.stop({ force: true });
    }
  });

  it('forgets a transaction after its time to live: its routes answer 404', async () => {
    // A server of its own whose transactions live 300 ms, over the same store, Redis and tokens.
    const shortLived = await buildApiServer({
      store,
      authenticator: tenancy,
      orgs: tenancy,
      uploads: { transactions, stagingDir, ttlMs: 300 },
      readiness: {},
      logger: pino({ level: 'silent' }),
      limits: { bodyLimitBytes: 1024 * 1024, requestTimeoutMs: 30_000 },
    });
    const url = await shortLived.listen({ host: '127.0.0.1', port: 0 });
    try {
      const datasetId = await newDataset();
      const begun = await call(`${url}/v1/files/upload`, {
        body: {
          association: { association_id: datasetId, association_type: 'dataset' },
          resource_manifest: { 'a.bag': 3 },
        },
      });
      const { transaction_id: txn, upload_mappings: mappings } = begun.json.data as Begun;
      expect((await putBytes(mappings['a.bag']!, Buffer.from('abc'))).status).toBe(200);
      await eventually(
        async () =>
          (await call(`${url}/v1/files/upload/${txn}/credentials`)).status === 404 ? true : undefined,
        10_000,
        'the transaction to expire',
      );
      expect((await call(`${url}/v1/files/upload/${txn}/complete`, { method: 'PUT' })).status).toBe(404);
      expect((await putBytes(mappings['a.bag']!, Buffer.from('abc'))).status).toBe(404);
      expect(await datasetFiles(datasetId)).toEqual([]);
    } finally {
      await shortLived.close();
    }
  });
});
