import { afterAll, describe, expect, it } from 'vitest';
import { DockerContainerRuntime } from '../../src/adapters/docker/docker-container-runtime.js';
import { ActionWorkerError } from '../../src/domain/errors.js';
import type { ContainerSpec } from '../../src/ports/container-runtime.js';
import { superviseContainer } from '../../src/stages/container-supervisor.js';
import { testContainerSpec } from '../support/container-spec.js';
import { BASE_IMAGE } from '../support/paths.js';
import { PrivateEngine } from '../support/private-engine.js';

function spec(name: string, script: string): ContainerSpec {
  return testContainerSpec(`aw-engine-restart-${name}-${Date.now()}`, BASE_IMAGE, {
    entrypoint: ['sh', '-c'],
    command: [script],
    limits: { memoryBytes: 256 * 1024 * 1024, pidsLimit: 128 },
    timeoutMs: 120_000,
    stopGraceMs: 2_000,
  });
}

/** Runs the container, restarting the engine (SIGTERM, then start) once it has started. */
async function runThroughRestart(engine: PrivateEngine, script: string): Promise<unknown> {
  const runtime = new DockerContainerRuntime({ docker: engine.client() });
  let started: () => void = () => undefined;
  const hasStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  const output: string[] = [];
  const run = superviseContainer(runtime, spec('run', script), {
    signal: new AbortController().signal,
    onOutput: (_, chunk) => {
      output.push(chunk.toString('utf8'));
      return Promise.resolve();
    },
    onStarted: () => {
      started();
    },
  });
  run.catch(() => undefined);
  await hasStarted;
  await engine.stop('SIGTERM');
  await engine.start();
  return await run.catch((error: unknown) => error);
}

describe('DockerContainerRuntime across an engine restart', () => {
  const engines: PrivateEngine[] = [];

  afterAll(async () => {
    for (const engine of engines) await engine.destroy();
  });

  it('follows a container that outlives the restart (live restore) to its own exit', async () => {
    const engine = await PrivateEngine.create({ liveRestore: true });
    engines.push(engine);
    const exit = await runThroughRestart(engine, 'echo begin; sleep 5; exit 3');
    expect(exit).toEqual({ kind: 'exited', exitCode: 3 });
  });

  it('reports a container the restart stopped (no live restore) as the engine restarting, retryable', async () => {
    const engine = await PrivateEngine.create();
    engines.push(engine);
    const error = await runThroughRestart(engine, 'echo begin; sleep 30');
    expect(error).toBeInstanceOf(ActionWorkerError);
    expect((error as ActionWorkerError).code).toBe('E_ENGINE_RESTARTED');
    expect((error as ActionWorkerError).retryable).toBe(true);
  });
});
