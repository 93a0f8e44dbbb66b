import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/poll.js';
import { ActionWorkerError, InfrastructureError } from '../../src/domain/errors.js';
import type { ContainerRuntime, ContainerSpec, OutputConsumer } from '../../src/ports/container-runtime.js';

/** What a contract container does; each fixture says it in its own terms (a shell script, a fake's script). */
export type ContractProgram =
  /** Writes `stdout` and `stderr` at once, then exits with `exitCode`. */
  | { kind: 'writes'; stdout: string; stderr: string; exitCode: number }
  /** Writes `ready` on stdout, then runs until a signal ends it; SIGTERM is ignored when asked. */
  | { kind: 'runs-until-signalled'; ready: string; ignoresTerm: boolean }
  /** Allocates memory until its (small) limit has the kernel's OOM killer end it. */
  | { kind: 'exceeds-memory' };

export interface ContainerRuntimeFixture {
  runtime: ContainerRuntime;
  /** The spec of a fresh container (a name of its own) running `program`. */
  containerFor(program: ContractProgram): Promise<ContainerSpec>;
  /** An image reference the runtime does not have. */
  missingImage: string;
  /** How long to wait for something a container does (a real engine on a busy machine is slow). */
  patienceMs: number;
}

function collector(): { consume: OutputConsumer; stdout: () => string; stderr: () => string } {
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  return {
    consume: (stream, chunk) => {
      chunks[stream].push(chunk);
      return Promise.resolve();
    },
    stdout: () => Buffer.concat(chunks.stdout).toString('utf8'),
    stderr: () => Buffer.concat(chunks.stderr).toString('utf8'),
  };
}

/**
 * What every ContainerRuntime must do with a container, as the supervisor (stages/container-supervisor.ts)
 * relies on it. Run against the Docker adapter (integration) and FakeContainerRuntime (unit): the fake is
 * only worth the tests it serves while it behaves like the engine.
 */
export function describeContainerRuntimeContract(
  name: string,
  fixture: () => Promise<ContainerRuntimeFixture>,
): void {
  describe(`ContainerRuntime contract: ${name}`, () => {
    /** Creates, attaches (before start) and starts the container; removes it in the end whatever happens. */
    async function withStarted<T>(
      f: ContainerRuntimeFixture,
      program: ContractProgram,
      body: (id: string, output: ReturnType<typeof collector>) => Promise<T>,
    ): Promise<T> {
      const id = await f.runtime.createContainer(await f.containerFor(program));
      try {
        const output = collector();
        await f.runtime.attachContainer(id, output.consume);
        await f.runtime.startContainer(id);
        return await body(id, output);
      } finally {
        await f.runtime.removeContainer(id);
      }
    }

    it('delivers per stream all a container writes to an attachment made before start, then its exit code', async () => {
      const f = await fixture();
      const id = await f.runtime.createContainer(
        await f.containerFor({ kind: 'writes', stdout: 'out one\nout two\n', stderr: 'err\n', exitCode: 3 }),
      );
      try {
        expect(await f.runtime.inspectContainer(id)).toMatchObject({ id, running: false });
        const output = collector();
        const attachment = await f.runtime.attachContainer(id, output.consume);
        await f.runtime.startContainer(id);
        expect(await f.runtime.waitContainer(id)).toBe(3);
        await attachment.done;
        expect(output.stdout()).toBe('out one\nout two\n');
        expect(output.stderr()).toBe('err\n');
        expect(await f.runtime.inspectContainer(id)).toEqual({
          id,
          running: false,
          exitCode: 3,
          oomKilled: false,
        });
        // The engine's own copy of the output has the same, per stream.
        const logged = collector();
        await f.runtime.readContainerLogs(id, logged.consume, AbortSignal.timeout(f.patienceMs));
        expect(logged.stdout()).toBe('out one\nout two\n');
        expect(logged.stderr()).toBe('err\n');
        // A wait on a container that has already exited answers at once.
        expect(await f.runtime.waitContainer(id)).toBe(3);
        // So does a signal to it: it is not running any more, which is not an error.
        await f.runtime.killContainer(id, 'SIGTERM');
      } finally {
        await f.runtime.removeContainer(id);
      }
      expect(await f.runtime.inspectContainer(id)).toBeUndefined();
    });

    it('ends a running container with a signal it does not handle: 128 + the signal', async () => {
      const f = await fixture();
      await withStarted(
        f,
        { kind: 'runs-until-signalled', ready: 'ready\n', ignoresTerm: false },
        async (id, output) => {
          await eventually(
            () => output.stdout() === 'ready\n' || undefined,
            f.patienceMs,
            'its ready line',
            20,
          );
          expect(await f.runtime.inspectContainer(id)).toMatchObject({ running: true });
          await f.runtime.killContainer(id, 'SIGTERM');
          expect(await f.runtime.waitContainer(id)).toBe(143);
        },
      );
    });

    it('leaves running a container that ignores SIGTERM, and SIGKILL ends it with 137', async () => {
      const f = await fixture();
      await withStarted(
        f,
        { kind: 'runs-until-signalled', ready: 'ready\n', ignoresTerm: true },
        async (id, output) => {
          await eventually(
            () => output.stdout() === 'ready\n' || undefined,
            f.patienceMs,
            'its ready line',
            20,
          );
          await f.runtime.killContainer(id, 'SIGTERM');
          // Watched for a while: it keeps running.
          const until = Date.now() + 1_000;
          while (Date.now() < until) {
            expect(await f.runtime.inspectContainer(id)).toMatchObject({ running: true });
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
          await f.runtime.killContainer(id, 'SIGKILL');
          expect(await f.runtime.waitContainer(id)).toBe(137);
          expect(await f.runtime.inspectContainer(id)).toMatchObject({
            running: false,
            exitCode: 137,
            oomKilled: false,
          });
        },
      );
    });

    it('gives up a wait whose signal aborts, without ending the container', async () => {
      const f = await fixture();
      await withStarted(
        f,
        { kind: 'runs-until-signalled', ready: 'ready\n', ignoresTerm: false },
        async (id, output) => {
          await eventually(
            () => output.stdout() === 'ready\n' || undefined,
            f.patienceMs,
            'its ready line',
            20,
          );
          const abandon = new AbortController();
          const waited = f.runtime.waitContainer(id, abandon.signal);
          abandon.abort();
          await expect(waited).rejects.toBeDefined();
          expect(await f.runtime.inspectContainer(id)).toMatchObject({ running: true });
          await f.runtime.killContainer(id, 'SIGKILL');
          expect(await f.runtime.waitContainer(id)).toBe(137);
        },
      );
    });

    it('reports a kill through its events, and neither an outside kill nor an OOM for a container that ended by itself', async () => {
      const f = await fixture();
      await withStarted(
        f,
        { kind: 'runs-until-signalled', ready: 'ready\n', ignoresTerm: false },
        async (id, output) => {
          const watch = await f.runtime.watchContainer(id);
          try {
            await eventually(
              () => output.stdout() === 'ready\n' || undefined,
              f.patienceMs,
              'its ready line',
              20,
            );
            await f.runtime.killContainer(id, 'SIGKILL');
            await f.runtime.waitContainer(id);
            await watch.dieSeen(f.patienceMs);
            // The watch cannot tell who sent it: the supervisor reads it only when it sent none.
            expect(watch.hasSeenOutsideKill).toBe(true);
            expect(watch.isEngineGone).toBe(false);
          } finally {
            watch.stop();
          }
        },
      );
      const id = await f.runtime.createContainer(
        await f.containerFor({ kind: 'writes', stdout: 'x\n', stderr: '', exitCode: 0 }),
      );
      try {
        const watch = await f.runtime.watchContainer(id);
        try {
          await f.runtime.attachContainer(id, () => Promise.resolve());
          await f.runtime.startContainer(id);
          expect(await f.runtime.waitContainer(id)).toBe(0);
          await watch.dieSeen(f.patienceMs);
          expect(watch.hasSeenOutsideKill).toBe(false);
          expect(watch.hasSeenOom).toBe(false);
          expect(watch.isEngineGone).toBe(false);
          expect(watch.gone.aborted).toBe(false);
          expect(await watch.engineGoneWithin(0)).toBe(false);
        } finally {
          watch.stop();
        }
      } finally {
        await f.runtime.removeContainer(id);
      }
    });

    it('says when the OOM killer ended a container, through its state or its events', async () => {
      const f = await fixture();
      const id = await f.runtime.createContainer(await f.containerFor({ kind: 'exceeds-memory' }));
      try {
        const watch = await f.runtime.watchContainer(id);
        try {
          const attachment = await f.runtime.attachContainer(id, () => Promise.resolve());
          await f.runtime.startContainer(id);
          expect(await f.runtime.waitContainer(id)).toBe(137);
          await attachment.done;
          await watch.dieSeen(f.patienceMs);
          const state = await f.runtime.inspectContainer(id);
          expect(state).toMatchObject({ running: false, exitCode: 137 });
          // cgroup v2: State.OOMKilled misses the kill of a child process (the action under init); the event does not.
          expect(state!.oomKilled || watch.hasSeenOom).toBe(true);
        } finally {
          watch.stop();
        }
      } finally {
        await f.runtime.removeContainer(id);
      }
    });

    it('refuses a second container next to a live one of the same name, and replaces a dead one', async () => {
      const f = await fixture();
      const spec = await f.containerFor({
        kind: 'runs-until-signalled',
        ready: 'ready\n',
        ignoresTerm: false,
      });
      const first = await f.runtime.createContainer(spec);
      let second: string | undefined;
      try {
        await f.runtime.startContainer(first);
        const refused = await f.runtime.createContainer(spec).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(InfrastructureError);
        expect(await f.runtime.inspectContainer(first)).toMatchObject({ running: true });
        await f.runtime.killContainer(first, 'SIGKILL');
        await f.runtime.waitContainer(first);
        second = await f.runtime.createContainer(spec);
        expect(second).not.toBe(first);
        expect(await f.runtime.inspectContainer(first)).toBeUndefined();
      } finally {
        await f.runtime.removeContainer(first);
        if (second !== undefined) await f.runtime.removeContainer(second);
      }
    });

    it('treats removing, killing or inspecting a container that does not exist as nothing to do', async () => {
      const f = await fixture();
      const missing = randomBytes(32).toString('hex');
      await f.runtime.removeContainer(missing);
      await f.runtime.killContainer(missing, 'SIGKILL');
      expect(await f.runtime.inspectContainer(missing)).toBeUndefined();
    });

    it('refuses to create a container of an image it does not have, as a usage error', async () => {
      const f = await fixture();
      const spec = {
        ...(await f.containerFor({ kind: 'writes', stdout: '', stderr: '', exitCode: 0 })),
        image: f.missingImage,
      };
      const error = await f.runtime.createContainer(spec).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ActionWorkerError);
      expect((error as ActionWorkerError).code).toBe('E_IMAGE_NOT_FOUND');
      expect((error as ActionWorkerError).retryable).toBe(false);
    });
  });
}
