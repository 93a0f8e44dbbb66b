import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTempDirs, runCli, tempDir } from '../support/harness.js';
import { BASE_IMAGE, projectRoot } from '../support/paths.js';

/**
 * Loaded in the hooks thread: records every module an `import` resolves to, ESM or CommonJS.
 */
const RESOLVE_HOOKS = `
import { appendFileSync } from 'node:fs';
let traceFile;
export function initialize(data) { traceFile = data.traceFile; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(traceFile, resolved.url + '\\n');
  return resolved;
}
`;

/**
 * Given to node with --import: registers the hooks above and, at exit, adds every file `require` loaded
 * (a CommonJS package's own requires do not pass through the resolve hook on Node 20).
 */
const TRACER = `
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const traceFile = process.env.MODULE_TRACE_FILE;
register(new URL('./resolve-hooks.mjs', import.meta.url), { data: { traceFile } });
const Module = createRequire(import.meta.url)('node:module');
process.on('exit', () => {
  appendFileSync(traceFile, Object.keys(Module._cache).join('\\n') + '\\n');
});
`;

/** The client libraries a command must not load unless it talks to that technology. */
const QUEUE_AND_REDIS = ['bullmq', 'ioredis'];
const ALL_CLIENTS = [...QUEUE_AND_REDIS, 'dockerode', 'docker-modem'];

/** What scripts/bundle.js writes beside the chunks: the packages bundled into each. */
const BUNDLE_DIR = path.join(projectRoot, 'dist', 'bundle');
const bundleMeta = async () =>
  JSON.parse(await readFile(path.join(BUNDLE_DIR, 'meta.json'), 'utf8')) as {
    packages: Record<string, string[]>;
  };

/** The packages a trace shows loaded: from node_modules directly, or inside a chunk of the bundle. */
async function packagesIn(trace: string): Promise<Set<string>> {
  const names = new Set<string>();
  for (const match of trace.matchAll(/\/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)) names.add(match[1]!);
  const { packages } = await bundleMeta();
  const bundleUrl = pathToFileURL(BUNDLE_DIR).href;
  for (const line of trace.split('\n')) {
    if (!line.startsWith(`${bundleUrl}/`)) continue;
    for (const name of packages[line.slice(bundleUrl.length + 1)] ?? []) names.add(name);
  }
  return names;
}

describe('action-worker start-up', () => {
  let tracer: string;
  let dir: string;
  let traces = 0;

  beforeAll(async () => {
    dir = await tempDir('module-trace');
    await writeFile(path.join(dir, 'resolve-hooks.mjs'), RESOLVE_HOOKS);
    tracer = path.join(dir, 'tracer.mjs');
    await writeFile(tracer, TRACER);
  });
  afterAll(removeTempDirs);

  /** Runs the CLI with the tracer; returns its result and the packages it loaded. */
  async function traced(args: string[], env: Record<string, string> = {}) {
    const traceFile = path.join(dir, `trace-${traces++}.txt`);
    await writeFile(traceFile, '');
    const result = await runCli(args, {
      env: {
        NODE_OPTIONS: `--import=${pathToFileURL(tracer).href}`,
        MODULE_TRACE_FILE: traceFile,
        ACTION_WORKER_PULL_POLICY: 'never',
        ...env,
      },
    });
    return { result, loaded: await packagesIn(await readFile(traceFile, 'utf8')) };
  }

  it.each(['--version', '--help', 'run --help', 'daemon --help', 'invocations list --help', 'config check'])(
    'loads no queue, Redis or Docker client for %s',
    async (command) => {
      const { result, loaded } = await traced(command.split(' '));
      expect(result.exitCode, result.all).toBe(0);
      // The tracer sees the packages the CLI does load.
      expect(loaded).toContain('commander');
      for (const client of ALL_CLIENTS) expect(loaded, `${command} loaded ${client}`).not.toContain(client);
    },
  );

  it('loads no queue, Redis or Docker client for a read through the API (--endpoint)', async () => {
    // Nothing listens there: the command fails reaching the API, after loading all it needs for it.
    const { result, loaded } = await traced(
      ['invocations', 'show', 'iv_1', '--endpoint', 'http://127.0.0.1:1'],
      { ACTION_WORKER_API_TOKEN: 'tok-startup' },
    );
    expect(result.stderr, result.all).toContain('cannot reach the API at http://127.0.0.1:1');
    for (const client of ALL_CLIENTS)
      expect(loaded, `invocations show --endpoint loaded ${client}`).not.toContain(client);
  });

  it('loads the Docker client but neither the queue nor Redis for run', async () => {
    const { result, loaded } = await traced(['run', '--image', BASE_IMAGE]);
    expect(result.exitCode, result.all).toBe(0);
    expect(loaded).toContain('dockerode');
    for (const client of QUEUE_AND_REDIS) expect(loaded, `run loaded ${client}`).not.toContain(client);
    // With no configuration file, the YAML parser is not needed either.
    expect(loaded, 'run loaded yaml').not.toContain('yaml');
    // Nor the Docker client's parts for BuildKit sessions (gRPC) and SSH engines (scripts/bundle.js).
    for (const unused of ['@grpc/grpc-js', 'ssh2'])
      expect(loaded, `run loaded ${unused}`).not.toContain(unused);
  });
});
