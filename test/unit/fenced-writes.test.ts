import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FencedError } from '../../src/domain/errors.js';
import { retrying, writeStatus } from '../../src/app/daemon/fenced-writes.js';
import { backoffDelay } from '../../src/util/backoff.js';
import { Lease } from '../../src/app/daemon/lease.js';
import { UsageError } from '../../src/domain/errors.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import type { InvocationStore } from '../../src/ports/invocation-store.js';

const silent = pino({ level: 'silent' });

function heldLease(): Lease {
  return new Lease({ renewLock: () => Promise.resolve(true) }, 30_000, silent);
}

/** A store whose transitions answer as scripted (an error thrown, else landed), counting the tries. */
function scriptedStore(answers: (Error | undefined)[]) {
  const writes: { status: number; detail: string | null; options: unknown }[] = [];
  let tries = 0;
  const store = {
    transition: (_id: string, status: number, detail: string | null, options: unknown) => {
      tries += 1;
      const answer = answers.shift();
      if (answer) return Promise.reject(answer);
      writes.push({ status, detail, options });
      return Promise.resolve({});
    },
  } as unknown as InvocationStore;
  return { store, writes, tries: () => tries };
}

describe('writeStatus', () => {
  it('retries through Redis trouble until the write lands, fenced by the attempt', async () => {
    const { store, writes, tries } = scriptedStore([new Error('ECONNRESET'), new Error('ECONNRESET')]);
    await writeStatus(
      { store, logger: silent },
      'iv_abcd',
      2,
      InvocationStatus.Processing,
      null,
      heldLease(),
    );
    expect(tries()).toBe(3);
    expect(writes).toEqual([{ status: InvocationStatus.Processing, detail: null, options: { attempt: 2 } }]);
  });

  it('writes a Failed that will not be retried as final, in the same write', async () => {
    const { store, writes } = scriptedStore([]);
    await writeStatus(
      { store, logger: silent },
      'iv_abcd',
      1,
      InvocationStatus.Failed,
      'exited with code 3',
      heldLease(),
      { retryable: false },
    );
    expect(writes[0]?.options).toEqual({ attempt: 1, final: true });
  });

  it('gives the lease up when a later attempt holds the invocation, without retrying', async () => {
    const { store, tries } = scriptedStore([new FencedError('iv_abcd', 1)]);
    const lease = heldLease();
    await writeStatus({ store, logger: silent }, 'iv_abcd', 1, InvocationStatus.Uploading, null, lease);
    expect(tries()).toBe(1);
    expect(lease.isLost).toBe(true);
    expect((lease.lost.reason as Error).message).toMatch(/attempt 1 was superseded/);
  });

  it('throws an error of ours at once', async () => {
    const { store, tries } = scriptedStore([new UsageError('cannot go from Completed to Processing')]);
    await expect(
      writeStatus({ store, logger: silent }, 'iv_abcd', 1, InvocationStatus.Processing, null, heldLease()),
    ).rejects.toBeInstanceOf(UsageError);
    expect(tries()).toBe(1);
  });

  it('writes nothing once the lease is lost, and stops retrying when it is lost meanwhile', async () => {
    const lost = heldLease();
    lost.markLost('gone');
    const first = scriptedStore([]);
    await writeStatus(
      { store: first.store, logger: silent },
      'iv_abcd',
      1,
      InvocationStatus.Processing,
      null,
      lost,
    );
    expect(first.tries()).toBe(0);

    const lease = heldLease();
    const second = scriptedStore(Array.from({ length: 50 }, () => new Error('ECONNRESET')));
    const writing = writeStatus(
      { store: second.store, logger: silent },
      'iv_abcd',
      1,
      InvocationStatus.Processing,
      null,
      lease,
    );
    lease.markLost('no renewal succeeded');
    await writing;
    expect(second.tries()).toBe(1);
  });
});

describe('backoffDelay', () => {
  it('is the wait p-retry makes after each failed try: doubling from the first, capped', () => {
    const backoff = { factor: 2, minTimeout: 250, maxTimeout: 5_000, randomize: false } as const;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(backoff, n))).toEqual([
      250, 500, 1_000, 2_000, 4_000, 5_000, 5_000,
    ]);
  });
});

describe('retrying', () => {
  it('retries a failing write until it succeeds', async () => {
    let tries = 0;
    const result = await retrying(silent, 'queue.complete', 30_000, () => {
      tries += 1;
      return tries < 3 ? Promise.reject(new Error('ECONNRESET')) : Promise.resolve('done');
    });
    expect(result).toBe('done');
    expect(tries).toBe(3);
  });

  it('gives up after the lock duration, with undefined', async () => {
    let tries = 0;
    const started = Date.now();
    const result = await retrying<string>(silent, 'queue.complete', 600, () => {
      tries += 1;
      return Promise.reject(new Error('ECONNRESET'));
    });
    expect(result).toBeUndefined();
    expect(tries).toBeGreaterThanOrEqual(2);
    // Tries at 0 and 250 ms; the next wait (500 ms) would end past the lock duration, so none is started.
    expect(tries).toBe(2);
    // It waited no longer than the lock duration and one capped wait.
    expect(Date.now() - started).toBeLessThan(600 + 5_000);
  });
});
