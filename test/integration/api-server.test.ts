import { request as httpRequest } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { MapAuthenticator, apiTestServer } from '../support/api-test-server.js';
import { cliPath } from '../support/paths.js';
import { PrivateRedis } from '../support/private-redis.js';
import { eventually } from '../support/poll.js';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { deleteKeysUnder } from '../support/redis-stores.js';

const REDIS_URL = process.env.ACTION_WORKER_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const BODY_LIMIT = 4096;
/** Every serve of this file keeps its keys here; afterAll deletes them. */
const KEY_PREFIX = `action-worker-api-test-${process.pid}`;

const TOKEN_A = 'tok-a-0f9e8d7c6b5a';
const TOKEN_B = 'tok-b-1a2b3c4d5e6f';
const UNKNOWN_TOKEN = 'tok-unknown-99887766';

/** A running `serve` (its app function, on 127.0.0.1:0) with its log lines and its signal source. */
async function startServe(storeDir: string, redisUrl = REDIS_URL) {
  const lines: string[] = [];
  const authenticator = new MapAuthenticator(
    new Map([
      [TOKEN_A, { orgId: 'og_a', tokenId: 'tk_a' }],
      [TOKEN_B, { orgId: 'og_b', tokenId: 'tk_b' }],
    ]),
  );
  const server = await apiTestServer({
    name: 'api',
    settings: {
      storeDir,
      redis: { url: redisUrl, keyPrefix: KEY_PREFIX },
      api: { bodyLimitBytes: BODY_LIMIT, shutdownGraceMs: 60_000 },
    },
    serve: true,
    server: {
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
      authenticator,
    },
  });
  const { api, signals, served } = server;
  return { api, served: served!, signals, lines, authenticator };
}

/** The parts of an answer the tests read. */
interface Body {
  data: { dataset_id: string; name: string; created: string };
  error: { error_code: string; message: string };
  paths: Record<string, unknown>;
}
interface LogLine {
  msg: string;
  req?: { url: string; headers: Record<string, unknown> };
  status?: number;
  tokenId?: string;
}
const logLines = (lines: string[]): LogLine[] => lines.map((line) => JSON.parse(line) as LogLine);

let serve: Awaited<ReturnType<typeof startServe>>;

const call = async (
  path: string,
  init: { method?: string; token?: string | null; body?: string; headers?: Record<string, string> } = {},
) => {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? TOKEN_A}`;
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${serve.api.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await response.text();
  let json = undefined as unknown as Body;
  try {
    json = JSON.parse(text) as Body;
  } catch {
    // not JSON: the test reads `text`
  }
  return { status: response.status, json, text };
};

beforeAll(async () => {
  serve = await startServe(await tempDir('api-store'));
});

afterAll(async () => {
  serve.signals.emit('SIGTERM', 'SIGTERM');
  await serve.served;
  await deleteKeysUnder(REDIS_URL, KEY_PREFIX);
  await deleteKeysUnder(REDIS_URL, `action-worker-api-cli-${process.pid}`);
  await removeTempDirs();
});

describe('action-worker serve: conventions over a real socket, store and Redis', () => {
  it('refuses /v1 without a bearer token, or with an unknown one, with 401 in the envelope', async () => {
    for (const token of [null, UNKNOWN_TOKEN]) {
      const { status, json } = await call('/v1/datasets/ds_x', { token });
      expect(status).toBe(401);
      expect(json.error.error_code).toBe('RobotoUnauthorizedException');
    }
    // Other spellings that reach the route need the token too.
    for (const path of ['//v1/datasets/ds_x', '/v1//datasets/ds_x', '/%76%31/datasets/ds_x']) {
      const other = await call(path, { token: null });
      expect([401, 404], path).toContain(other.status);
      if (other.status === 404) expect(other.json.error.message, path).toContain('no route');
    }
    const basic = await call('/v1/datasets/ds_x', {
      token: null,
      headers: { authorization: `Basic ${TOKEN_A}` },
    });
    expect(basic.status).toBe(401);
  });

  it('answers an unknown route 404 in the envelope', async () => {
    const { status, json } = await call('/v1/no/such/route');
    expect(status).toBe(404);
    expect(json).toEqual({ error: { error_code: 'RobotoNotFoundException', message: expect.any(String) } });
    expect((await call('/nowhere', { token: null })).json.error.error_code).toBe('RobotoNotFoundException');
  });

  it('creates a dataset in the caller org and gets it back as the SDK parses it', async () => {
    const created = await call('/v1/datasets', {
      body: JSON.stringify({
        description: 'd',
        device_id: null,
        name: 'run 1',
        metadata: { k: { nested: 1 } },
        tags: ['a'],
        custom_fields: null,
      }),
    });
    expect(created.status).toBe(200);
    const id: string = created.json.data.dataset_id;
    const got = await call(`/v1/datasets/${id}`);
    expect(got.status).toBe(200);
    expect(got.json.data).toMatchObject({
      dataset_id: id,
      org_id: 'og_a',
      name: 'run 1',
      description: 'd',
      device_id: null,
      tags: ['a'],
      metadata: { k: { nested: 1 } },
      custom_fields: {},
      roboto_record_version: 0,
      administrator: 'Roboto',
      storage_location: 'S3',
      storage_ctx: { bucket_name: 'NOT_SET', iam_role_arn: 'NOT_SET', key_prefix: 'NOT_SET' },
    });
    expect(got.json.data.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });

  it("answers another org's dataset exactly as a missing one (the attack: reading across orgs by id)", async () => {
    const created = await call('/v1/datasets', { body: JSON.stringify({ name: 'secret' }), token: TOKEN_A });
    const id: string = created.json.data.dataset_id;
    const theirs = await call(`/v1/datasets/${id}`, { token: TOKEN_B });
    const missing = await call('/v1/datasets/ds_doesnotexist', { token: TOKEN_B });
    expect(theirs.status).toBe(404);
    expect(theirs.json.error.error_code).toBe('RobotoDatasetNotFoundException');
    expect(missing.status).toBe(404);
    expect(theirs.json.error.message.replace(id, 'ID')).toBe(
      missing.json.error.message.replace('ds_doesnotexist', 'ID'),
    );
    expect(theirs.text).not.toContain('secret');
  });

  it('refuses a caller-org header for an org the token is not in (the attack: creating in another org)', async () => {
    const { status, json } = await call('/v1/datasets', {
      body: JSON.stringify({ name: 'planted' }),
      headers: { 'x-roboto-org-id': 'og_b' },
    });
    expect(status).toBe(403);
    expect(json.error.error_code).toBe('RobotoUnauthorizedException');
  });

  it('answers bad JSON, a schema violation naming its field, an unknown query parameter and a wrong media type in the envelope', async () => {
    const badJson = await call('/v1/datasets', { body: '{"name":' });
    expect(badJson.status).toBe(400);
    expect(badJson.json.error.error_code).toBe('RobotoInvalidRequestException');

    const violation = await call('/v1/datasets', { body: JSON.stringify({ name: 'x', tags: [1] }) });
    expect(violation.status).toBe(400);
    expect(violation.json.error.error_code).toBe('RobotoInvalidRequestException');
    expect(violation.json.error.message).toContain('body.tags.0');

    const tooLong = await call('/v1/datasets', { body: JSON.stringify({ name: 'n'.repeat(121) }) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.error.message).toContain('body.name');

    const query = await call('/v1/datasets/ds_x?verbose=1');
    expect(query.status).toBe(400);
    expect(query.json.error.message).toContain('verbose');

    const media = await call('/v1/datasets', { body: 'name=x', headers: { 'content-type': 'text/plain' } });
    expect(media.status).toBe(415);
    expect(media.json.error.error_code).toBe('RobotoInvalidRequestException');
  });

  it('refuses a body over the limit with 413 in the envelope', async () => {
    const { status, json } = await call('/v1/datasets', {
      body: JSON.stringify({ name: 'big', description: 'x'.repeat(BODY_LIMIT) }),
    });
    expect(status).toBe(413);
    expect(json.error.error_code).toBe('RobotoInvalidRequestException');
  });

  it('answers /healthz, /readyz (Redis and the store) and /openapi.json without a token', async () => {
    expect(await call('/healthz', { token: null })).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(await call('/readyz', { token: null })).toMatchObject({
      status: 200,
      json: { status: 'ready', redis: 'ok', store: 'ok' },
    });
    const openapi = await call('/openapi.json', { token: null });
    expect(openapi.json.paths['/v1/datasets/{dataset_id}']).toBeDefined();
  });

  it('counts requests by route, method and status in /metrics, with their latency', async () => {
    await call('/v1/datasets/ds_metrics');
    const { status, text } = await call('/metrics', { token: null });
    expect(status).toBe(200);
    expect(text).toMatch(
      /action_worker_api_requests_total\{route="\/v1\/datasets\/:dataset_id",method="GET",status="404"\} [1-9]/,
    );
    expect(text).toContain('action_worker_api_request_duration_seconds_bucket{');
  });

  it('never logs a bearer token, accepted or refused, while logging the request headers', async () => {
    await call('/v1/datasets/ds_logged', { token: TOKEN_A });
    await call('/v1/datasets/ds_logged', { token: UNKNOWN_TOKEN });
    await call('/v1/datasets', { token: TOKEN_B, body: '{"broken' });
    const log = serve.lines.join('');
    for (const token of [TOKEN_A, TOKEN_B, UNKNOWN_TOKEN]) expect(log).not.toContain(token);
    const requests = logLines(serve.lines).filter((line) => line.msg === 'api.request');
    const logged = requests.find((line) => line.req?.url === '/v1/datasets/ds_logged' && line.status === 404);
    expect(logged?.req?.headers.authorization).toBe('[Redacted]');
    expect(logged?.tokenId).toBe('tk_a');
  });
});

describe('action-worker serve: shutdown', () => {
  it('on SIGTERM stops accepting, finishes the request in flight, then ends', async () => {
    const own = await startServe(await tempDir('api-drain'));
    const drainToken = TOKEN_A;
    const body = JSON.stringify({ name: 'in flight', tags: [] });
    const url = new URL(own.api.url);
    const askedBefore = own.authenticator.asked.length;
    let answer: (value: { status: number; text: string }) => void = () => undefined;
    let fail: (error: Error) => void = () => undefined;
    const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
      answer = resolve;
      fail = reject;
    });
    const inFlight = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/v1/datasets',
        headers: {
          authorization: `Bearer ${drainToken}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          connection: 'close',
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => {
          answer({ status: response.statusCode ?? 0, text });
        });
      },
    );
    // A connection cut off before the answer fails the test at once.
    inFlight.on('error', fail);
    // Half the body: the request has arrived (its token was checked) and is not finished.
    inFlight.write(body.slice(0, 10));
    await eventually(
      () => (own.authenticator.asked.length > askedBefore ? true : undefined),
      10_000,
      'the request',
    );

    let ended = false;
    void own.served.then(() => (ended = true));
    own.signals.emit('SIGTERM', 'SIGTERM');
    // No longer accepting: a new connection is refused.
    await eventually(
      () =>
        fetch(`${own.api.url}/healthz`).then(
          () => undefined,
          () => true,
        ),
      10_000,
      'new connections to be refused',
    );
    expect(ended).toBe(false);

    inFlight.end(body.slice(10));
    const { status, text } = await answered;
    expect(status).toBe(200);
    expect((JSON.parse(text) as Body).data.name).toBe('in flight');
    await own.served;
    const events = logLines(own.lines).map((line) => line.msg);
    expect(events.indexOf('api.stopped')).toBeGreaterThan(events.lastIndexOf('api.request'));
  });
});

describe('action-worker serve: readiness', () => {
  it('is not ready while Redis does not answer, and says so', async () => {
    const redis = await PrivateRedis.create();
    const own = await startServe(await tempDir('api-ready'), redis.url);
    try {
      const ready = await fetch(`${own.api.url}/readyz`);
      expect(ready.status).toBe(200);
      await redis.stop();
      const down = await fetch(`${own.api.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({
        status: 'not ready',
        store: 'ok',
        redis: expect.not.stringMatching(/^ok$/),
      });
    } finally {
      own.signals.emit('SIGTERM', 'SIGTERM');
      await own.served;
      await redis.stop();
    }
  });
});

describe('the action-worker serve command', () => {
  it('listens where --host/--port say, answers, and exits 0 on SIGTERM', async () => {
    const storeDir = await tempDir('api-cli');
    const child = execa('node', [cliPath, 'serve', '--host', '127.0.0.1', '--port', '0'], {
      env: {
        ACTION_WORKER_STORE_DIR: storeDir,
        ACTION_WORKER_REDIS_URL: REDIS_URL,
        ACTION_WORKER_KEY_PREFIX: `action-worker-api-cli-${process.pid}`,
      },
      reject: false,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    const url = await eventually(
      () => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(stderr)?.[1],
      30_000,
      'the server to listen',
    );
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // A token that is no org's (none was created in this Redis namespace) is refused.
    const refused = await fetch(`${url}/v1/datasets/ds_1`, { headers: { authorization: 'Bearer anything' } });
    expect(refused.status).toBe(401);
    child.kill('SIGTERM');
    const result = await child;
    expect(result.exitCode).toBe(0);
    expect(stderr).toContain('api.stopped');
  });
});
