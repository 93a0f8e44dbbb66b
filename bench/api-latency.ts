// The API server's latency and throughput, side by side in one run with a Fastify hello-world on the same
// machine: a real `action-worker serve` (the built CLI, in a process of its own, logging at info as in
// production), its default SQLite store in a temporary directory, the real Redis, a real org and token.
// For each scenario: the maximum throughput (as many requests as `connections` keep in flight), then the
// latency at a fixed overall rate (autocannon's overallRate). A scenario whose route the server does not
// have yet (a 404 "no route") is reported as skipped, one that refuses the request as failed.
//
// Usage: node --import tsx bench/api-latency.ts [seconds per measurement] [rate/s] [connections]
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { execa } from 'execa';
import { Redis } from 'ioredis';

const secondsPerRun = Number(process.argv[2] ?? 10);
const rate = Number(process.argv[3] ?? 1000);
const connections = Number(process.argv[4] ?? 10);
const root = path.join(import.meta.dirname, '..');
const cli = path.join(root, 'bin', 'action-worker.js');
const redisUrl = process.env.ACTION_WORKER_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** serve's log level: info (one line per request) as in production; warn shows what the logging costs. */
const serveLogLevel = process.env.BENCH_SERVE_LOG_LEVEL ?? 'info';
/** Files in the benchmark's dataset; the queries look one of them up. */
const FILES = 200;
const LOOKED_UP = 'logs/file-042.log';

interface Request {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
}
interface Target {
  url: string;
  headers: Record<string, string>;
}
interface Scenario {
  name: string;
  target: 'hello' | 'serve';
  /** The request to repeat, or why the scenario cannot run against this server. */
  prepare: () => Promise<Request | { skip: string }>;
}
interface Measurement {
  /** Requests per second, at most connections in flight. */
  maxRate: number;
  /** The rate achieved when asked for `rate`. */
  fixedRate: number;
  p50: number;
  p99: number;
  failures: number;
}

/** A free port on loopback (for the server's --port; the short race with another taker is harmless here). */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function call(
  target: Target,
  request: Request,
): Promise<{ status: number; json: unknown; text: string }> {
  const response = await fetch(`${target.url}${request.path}`, {
    method: request.method,
    headers: {
      ...target.headers,
      ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

/** The answer's `data`, or undefined when the server has no such route; any other failure ends the bench. */
async function dataOf(target: Target, request: Request): Promise<Record<string, unknown> | undefined> {
  const { status, json, text } = await call(target, request);
  if (status === 404 && text.includes('no route')) return undefined;
  if (status < 200 || status > 299) {
    throw new Error(`${request.method} ${request.path}: ${String(status)} ${text.slice(0, 500)}`);
  }
  return (json as { data?: Record<string, unknown> } | undefined)?.data ?? {};
}

/** Polls until `url` answers 200 (the server is up), or its process has ended. */
async function waitUntilServing(url: string, child: ChildProcess, log: string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `the server ended (${String(child.exitCode)}):\n${await readFile(log, 'utf8').catch(() => '')}`,
      );
    }
    const ok = await fetch(url).then(
      (response) => response.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Runs autocannon once; latencies are kept exactly (autocannon's own histogram has a 1 ms resolution). */
async function load(target: Target, request: Request, options: { seconds: number; overallRate?: number }) {
  const latencies: number[] = [];
  let finished: (result: autocannon.Result) => void = () => undefined;
  let failed: (error: unknown) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    finished = resolve;
    failed = reject;
  });
  const instance = autocannon(
    {
      url: `${target.url}${request.path}`,
      method: request.method,
      headers: {
        ...target.headers,
        ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      connections,
      duration: options.seconds,
      ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
    },
    (error, result) => {
      if (error) failed(error);
      else finished(result);
    },
  );
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await done;
  latencies.sort((a, b) => a - b);
  const percentile = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? NaN;
  return {
    rate: latencies.length / options.seconds,
    p50: percentile(0.5),
    p99: percentile(0.99),
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

async function measure(target: Target, request: Request): Promise<Measurement> {
  // Warm-up: the JIT, the connections, the store's page cache.
  await load(target, request, { seconds: Math.max(1, Math.min(3, secondsPerRun / 3)) });
  const max = await load(target, request, { seconds: secondsPerRun });
  const fixed = await load(target, request, { seconds: secondsPerRun, overallRate: rate });
  return {
    maxRate: max.rate,
    fixedRate: fixed.rate,
    p50: fixed.p50,
    p99: fixed.p99,
    failures: max.failures + fixed.failures,
  };
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-api-'));
const id = `bench-api-${String(process.pid)}-${Date.now().toString(36)}`;
const env = {
  ...process.env,
  ACTION_WORKER_REDIS_URL: redisUrl,
  ACTION_WORKER_KEY_PREFIX: id,
  ACTION_WORKER_QUEUE: id,
  ACTION_WORKER_STORE_DIR: path.join(dir, 'store'),
};
const children: ChildProcess[] = [];
try {
  // The bin runs dist/: bundle the sources here (the type check is left to `npm run build`).
  await execa('node', [path.join(root, 'scripts', 'bundle.js')], { cwd: root });

  // An org, its token, and a dataset of the org with FILES files, made the way an operator makes them.
  const orgId = (await execa('node', [cli, 'orgs', 'create', '--name', 'bench'], { env })).stdout.trim();
  const token = (await execa('node', [cli, 'tokens', 'create', '--org', orgId], { env })).stdout.trim();
  const data = path.join(dir, 'data');
  await mkdir(path.join(data, 'logs'), { recursive: true });
  for (let index = 0; index < FILES; index += 1) {
    await writeFile(
      path.join(data, 'logs', `file-${String(index).padStart(3, '0')}.log`),
      `line ${String(index)}\n`,
    );
  }
  const datasetId = (
    await execa('node', [cli, 'datasets', 'import', data, '--org-id', orgId], { env })
  ).stdout.trim();

  // The servers, each in a process of its own.
  const port = await freePort();
  const log = path.join(dir, 'serve.log');
  const logFile = await open(log, 'w');
  const serve = spawn(
    'node',
    [cli, 'serve', '--host', '127.0.0.1', '--port', String(port), '--log-level', serveLogLevel],
    {
      env,
      stdio: ['ignore', 'ignore', logFile.fd],
    },
  );
  children.push(serve);
  const hello = spawn('node', ['--import', 'tsx', path.join(import.meta.dirname, 'hello-fastify.ts')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(hello);
  const helloPort: unknown = (await once(hello.stdout, 'data'))[0];
  const targets: Record<Scenario['target'], Target> = {
    hello: { url: `http://127.0.0.1:${String(helloPort).trim()}`, headers: {} },
    serve: { url: `http://127.0.0.1:${String(port)}`, headers: { authorization: `Bearer ${token}` } },
  };
  await waitUntilServing(`${targets.serve.url}/healthz`, serve, log);

  const scenarios: Scenario[] = [
    {
      name: 'Fastify hello-world (baseline)',
      target: 'hello',
      prepare: () => Promise.resolve({ method: 'GET', path: '/' }),
    },
    {
      name: 'GET /v1/datasets/{id}',
      target: 'serve',
      prepare: () => Promise.resolve({ method: 'GET', path: `/v1/datasets/${datasetId}` }),
    },
    {
      name: 'POST /v1/files/query (one path)',
      target: 'serve',
      prepare: () =>
        Promise.resolve({
          method: 'POST',
          path: '/v1/files/query',
          body: { condition: { field: 'relative_path', comparator: 'EQUALS', value: LOOKED_UP } },
        }),
    },
    {
      name: 'GET /v1/files/record/path/{path}/association/{id}',
      target: 'serve',
      prepare: () =>
        Promise.resolve({
          method: 'GET',
          path: `/v1/files/record/path/${encodeURIComponent(LOOKED_UP)}/association/${datasetId}`,
        }),
    },
    {
      name: 'POST /v1/actions/{name}/invoke',
      target: 'serve',
      prepare: async () => {
        const action = await dataOf(targets.serve, {
          method: 'POST',
          path: '/v1/actions',
          // The SDK's Action.create body (spec A1): every key present.
          body: {
            name: 'bench-noop',
            compute_requirements: null,
            container_parameters: null,
            description: null,
            inherits: null,
            metadata: {},
            parameters: [],
            requires_downloaded_inputs: null,
            short_description: null,
            tags: [],
            timeout: 5,
            uri: 'action-worker/busybox:latest',
          },
        });
        if (action === undefined) return { skip: 'no POST /v1/actions on this server' };
        return {
          method: 'POST',
          path: `/v1/actions/bench-noop/invoke?digest=${encodeURIComponent(String(action.digest))}`,
          body: {
            compute_requirement_overrides: null,
            container_parameter_overrides: null,
            data_source_id: datasetId,
            data_source_type: 'Dataset',
            idempotency_id: null,
            input_data: [],
            rich_input_data: null,
            invocation_source: 'Manual',
            invocation_source_id: null,
            parameter_values: null,
            timeout: 5,
            upload_destination: null,
          },
        };
      },
    },
  ];

  const rows: { name: string; result: Measurement | string }[] = [];
  for (const scenario of scenarios) {
    const request = await scenario.prepare();
    if ('skip' in request) {
      rows.push({ name: scenario.name, result: `skipped: ${request.skip}` });
      continue;
    }
    // One request first: a route the server does not have is skipped, a refused request is reported.
    const probe = await call(targets[scenario.target], request);
    if (probe.status === 404 && probe.text.includes('no route')) {
      rows.push({ name: scenario.name, result: 'skipped: no such route on this server' });
      continue;
    }
    if (probe.status < 200 || probe.status > 299) {
      rows.push({
        name: scenario.name,
        result: `failed: ${String(probe.status)} ${probe.text.slice(0, 200)}`,
      });
      continue;
    }
    process.stderr.write(`${scenario.name}…\n`);
    rows.push({ name: scenario.name, result: await measure(targets[scenario.target], request) });
  }

  const baseline = rows[0]?.result as Measurement;
  const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : '—');
  console.log(
    `\n${String(secondsPerRun)} s per measurement, ${String(connections)} connections, fixed rate ${String(rate)}/s, ` +
      `serve logging at ${serveLogLevel}; ` +
      `${String(os.cpus().length)} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, load average ${os
        .loadavg()
        .map((value) => value.toFixed(1))
        .join(' ')}\n`,
  );
  console.log(
    `| scenario | max req/s | × hello | achieved at ${String(rate)}/s | p50 ms | p99 ms | p99 × hello | failures |`,
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { name, result } of rows) {
    if (typeof result === 'string') {
      console.log(`| ${name} | ${result} | | | | | | |`);
      continue;
    }
    console.log(
      `| ${name} | ${fixed(result.maxRate, 0)} | ${fixed(result.maxRate / baseline.maxRate)} | ${fixed(result.fixedRate, 0)} | ` +
        `${fixed(result.p50)} | ${fixed(result.p99)} | ${fixed(result.p99 / baseline.p99)} | ${String(result.failures)} |`,
    );
  }
  await logFile.close();
  const errors = (await readFile(log, 'utf8')).split('\n').filter((line) => /"level":(50|60)/.test(line));
  if (errors.length > 0)
    console.log(`\nthe server logged ${String(errors.length)} errors, first:`, errors[0]);
} finally {
  await Promise.all(children.map(stop));
  // What the run left in Redis: the org, its token, and every invocation record and job it made.
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${id}:*`, 'COUNT', 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
  await rm(dir, { recursive: true, force: true });
}
