// `action-worker run` of a no-op action side by side with `docker run --rm` of the same image, alternating
// in one run, plus the wall time of `--version` and `--help`. The CLI runs from dist/, which is built first.
// Usage: node --import tsx bench/cli-startup.ts [rounds] [LABEL=path/to/bin/action-worker.js ...]
// (several CLIs, e.g. the build of an older commit, are measured in the same rounds, in turn.)
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

const BASE_IMAGE = 'action-worker/busybox:latest';
/** The base image with `true` as its command: what `run --image` starts, as `docker run --rm … true` does. */
const NOOP_IMAGE = 'action-worker/bench-noop:latest';
const root = path.join(import.meta.dirname, '..');
const rounds = Number(process.argv[2] ?? 20);
const clis = (
  process.argv.length > 3 ? process.argv.slice(3) : [`this=${path.join(root, 'bin', 'action-worker.js')}`]
).map((arg) => {
  const [label, bin] = arg.split('=', 2);
  if (!label || !bin) throw new Error(`expected LABEL=path/to/bin/action-worker.js, got "${arg}"`);
  return { label, bin: path.resolve(bin) };
});

const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b);
const median = (values: number[]): number => sorted(values)[Math.floor(values.length / 2)] ?? NaN;
const p95 = (values: number[]): number =>
  sorted(values)[Math.min(values.length - 1, Math.floor(values.length * 0.95))] ?? NaN;

async function timed(command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const start = process.hrtime.bigint();
  const result = await execa(command, args, { env, reject: false, stdout: 'ignore', stderr: 'pipe' });
  const elapsed = seconds(start);
  if (result.exitCode !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
  return elapsed;
}

async function main(): Promise<void> {
  // The bin runs dist/: measure what is built from the sources here.
  await execa('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  await execa('docker', ['build', '--quiet', '--tag', NOOP_IMAGE, '-'], {
    input: `FROM ${BASE_IMAGE}\nCMD ["true"]\n`,
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aw-bench-startup-'));
  const secrets = await mkdtemp(
    path.join(os.platform() === 'linux' ? '/dev/shm' : os.tmpdir(), 'aw-bench-startup-'),
  );
  const env = {
    ...process.env,
    ACTION_WORKER_WORKSPACE_DIR: path.join(dir, 'ws'),
    ACTION_WORKER_STORE_DIR: path.join(dir, 'store'),
    ACTION_WORKER_CACHE_DIR: path.join(dir, 'cache'),
    ACTION_WORKER_LOG_DIR: path.join(dir, 'logs'),
    ACTION_WORKER_SECRETS_TMPFS_DIR: secrets,
    ACTION_WORKER_PULL_POLICY: 'never',
  };
  const samples = new Map<string, number[]>();
  const add = (name: string, value: number): void => {
    samples.set(name, [...(samples.get(name) ?? []), value]);
  };
  try {
    // One warm-up of each, not counted: the first container start and module load pay for cold caches.
    await timed('docker', ['run', '--rm', NOOP_IMAGE]);
    for (const { bin } of clis) await timed('node', [bin, 'run', '--image', NOOP_IMAGE], env);
    for (let round = 0; round < rounds; round += 1) {
      add('docker run --rm', await timed('docker', ['run', '--rm', NOOP_IMAGE]));
      for (const { label, bin } of clis) {
        add(
          `${label}: run`,
          await timed('node', [bin, 'run', '--image', NOOP_IMAGE, '--log-level', 'error'], env),
        );
        add(`${label}: --version`, await timed('node', [bin, '--version'], env));
        add(`${label}: --help`, await timed('node', [bin, '--help'], env));
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(secrets, { recursive: true, force: true });
  }
  const docker = median(samples.get('docker run --rm')!);
  console.log(`\n${rounds} rounds, alternating; wall seconds per command\n`);
  console.log('| command | median s | p95 s | × `docker run --rm` (medians) |');
  console.log('| --- | --- | --- | --- |');
  for (const [name, values] of samples) {
    const ratio =
      name.endsWith(': run') || name === 'docker run --rm' ? (median(values) / docker).toFixed(2) : '—';
    console.log(`| ${name} | ${median(values).toFixed(3)} | ${p95(values).toFixed(3)} | ${ratio} |`);
  }
}

await main();
