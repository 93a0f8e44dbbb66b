import { describe, expect, it, vi } from 'vitest';
import { ActionWorkerError } from '../../src/domain/errors.js';
import type { ContainerSpec } from '../../src/ports/container-runtime.js';
import { superviseContainer } from '../../src/stages/container-supervisor.js';
import { type ContainerSpecOverrides, testContainerSpec } from '../support/container-spec.js';
import { type FakeBehaviour, FakeContainerRuntime } from '../support/fake-container-runtime.js';

const IMAGE = 'fake/action:1';

function spec(overrides: ContainerSpecOverrides = {}): ContainerSpec {
  return testContainerSpec('action-worker-iv_test-1', IMAGE, { stopGraceMs: 200, ...overrides });
}

function runtimeWith(behaviour: FakeBehaviour): FakeContainerRuntime {
  const runtime = new FakeContainerRuntime([IMAGE]);
  runtime.scriptNext(behaviour);
  return runtime;
}

const lines = (...texts: string[]): FakeBehaviour['output'] =>
  texts.map((text) => ({ stream: 'stdout', text }));

describe('superviseContainer', () => {
  it('keeps reading past a failing output consumer, and raises its error once the container has exited', async () => {
    const runtime = runtimeWith({ output: lines('one\n', 'two\n', 'three\n'), exitCode: 0 });
    const seen: string[] = [];
    const error = await superviseContainer(runtime, spec(), {
      signal: new AbortController().signal,
      onOutput: (_stream, chunk) => {
        seen.push(chunk.toString());
        return Promise.reject(new Error('disk full'));
      },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ActionWorkerError);
    expect((error as ActionWorkerError).code).toBe('E_IO');
    expect((error as ActionWorkerError).message).toMatch(/disk full/);
    // The consumer is not called again once it failed, but the container ran to its end and was removed.
    expect(seen).toEqual(['one\n']);
    expect(runtime.methods).toEqual(['create', 'attach', 'watch', 'start', 'wait', 'remove']);
    expect(runtime.liveContainers).toEqual([]);
  });

  it('hands the output over in order, each chunk awaited', async () => {
    const runtime = runtimeWith({ output: lines('a', 'b', 'c'), exitCode: 0 });
    let text = '';
    const exit = await superviseContainer(runtime, spec(), {
      signal: new AbortController().signal,
      onOutput: async (_stream, chunk) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        text += chunk.toString();
      },
    });
    expect(exit).toEqual({ kind: 'exited', exitCode: 0 });
    expect(text).toBe('abc');
    // Delivered through the attachment: the engine's log is not read, nothing comes twice.
    expect(runtime.methods).not.toContain('logs');
  });

  it("recovers the output from the engine's log when the attachment delivered none of it", async () => {
    const runtime = runtimeWith({
      output: [
        { stream: 'stdout', text: 'out\n' },
        { stream: 'stderr', text: 'err\n' },
      ],
      attachMisses: true,
      exitCode: 0,
    });
    const output: string[] = [];
    const warnings: string[] = [];
    const exit = await superviseContainer(runtime, spec(), {
      signal: new AbortController().signal,
      onOutput: (stream, chunk) => {
        output.push(`${stream}: ${chunk.toString()}`);
        return Promise.resolve();
      },
      logger: { warn: (_fields: unknown, message?: string) => warnings.push(message ?? '') },
    });
    expect(exit).toEqual({ kind: 'exited', exitCode: 0 });
    expect(output).toEqual(['stdout: out\n', 'stderr: err\n']);
    expect(warnings).toEqual(['container.output_recovered_from_logs']);
    expect(runtime.methods.indexOf('logs')).toBeLessThan(runtime.methods.indexOf('remove'));
  });

  it('gives the log up when the engine never ends it, and still reports the exit and removes the container', async () => {
    const runtime = runtimeWith({
      output: [{ stream: 'stdout', text: 'out\n' }],
      attachMisses: true,
      logsHang: true,
      exitCode: 3,
    });
    const warnings: string[] = [];
    const exit = await superviseContainer(runtime, spec(), {
      signal: new AbortController().signal,
      onOutput: () => Promise.resolve(),
      logger: { warn: (_fields: unknown, message?: string) => warnings.push(message ?? '') },
      timings: { logsRecoveryMs: 50 },
    });
    expect(exit).toEqual({ kind: 'exited', exitCode: 3 });
    expect(warnings).toEqual(['container.logs_unreadable']);
    expect(runtime.methods.indexOf('logs')).toBeLessThan(runtime.methods.indexOf('remove'));
  });

  it('gives the log up at once when forced', async () => {
    const runtime = runtimeWith({ attachMisses: true, logsHang: true });
    const force = new AbortController();
    const warnings: string[] = [];
    const exit = superviseContainer(runtime, spec(), {
      signal: new AbortController().signal,
      forceSignal: force.signal,
      onOutput: () => Promise.resolve(),
      logger: {
        warn: (_fields: unknown, message?: string) => {
          warnings.push(message ?? '');
        },
      },
    });
    await vi.waitFor(() => {
      expect(runtime.methods).toContain('logs');
    });
    force.abort();
    // The default limit is 15 s: settling well before it is the force at work.
    await expect(exit).resolves.toEqual({ kind: 'exited', exitCode: 0 });
    expect(warnings).toEqual(['container.logs_unreadable']);
  });

  it('never creates a container for a signal aborted already', async () => {
    const runtime = runtimeWith({});
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(
      superviseContainer(runtime, spec(), { signal: controller.signal, onOutput: () => Promise.resolve() }),
    ).rejects.toThrow('gone');
    expect(runtime.calls).toEqual([]);
  });

  it('does not call exit code 137 an OOM unless the engine says so', async () => {
    const runtime = runtimeWith({ exitCode: 137 });
    const exit = await superviseContainer(runtime, spec(), {
      signal: new AbortController().signal,
      onOutput: () => Promise.resolve(),
    });
    expect(exit).toEqual({ kind: 'exited', exitCode: 137 });
  });

  it('reports the started container once, and the stop reason with a stopped one', async () => {
    const runtime = runtimeWith({ runMs: Infinity });
    const controller = new AbortController();
    const started: string[] = [];
    const exit = superviseContainer(runtime, spec(), {
      signal: controller.signal,
      onOutput: () => Promise.resolve(),
      onStarted: (id) => started.push(id),
    });
    const id = await runtime.started();
    const reason = new Error('storage exceeded');
    controller.abort(reason);
    expect(await exit).toEqual({ kind: 'stopped', exitCode: 143, reason });
    expect(started).toEqual([id]);
  });

  it('gives up on a container that outlives SIGKILL, and still removes it', async () => {
    const runtime = runtimeWith({ runMs: Infinity, ignores: ['SIGTERM'] });
    // An engine that accepts the kill but never ends the container.
    runtime.killContainer = (id, signal) => {
      runtime.calls.push({ method: 'kill', id, signal });
      return Promise.resolve();
    };
    const error = await superviseContainer(runtime, spec({ timeoutMs: 50 }), {
      signal: new AbortController().signal,
      onOutput: () => Promise.resolve(),
      timings: { killTimeoutMs: 100 },
    }).catch((caught: unknown) => caught);
    expect((error as ActionWorkerError).code).toBe('E_DOCKER');
    expect((error as Error).message).toMatch(/did not exit 100 ms after SIGKILL/);
    expect(runtime.methods.filter((method) => method.startsWith('kill'))).toEqual([
      'kill SIGTERM',
      'kill SIGKILL',
    ]);
    expect(runtime.methods.at(-1)).toBe('remove');
  });
});
