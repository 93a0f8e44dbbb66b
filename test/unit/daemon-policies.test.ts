import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { redisOptions } from '../../src/adapters/bullmq/invocation-queue.js';
import { CapacityLedger } from '../../src/app/daemon/capacity.js';
import { FetchWatchdog } from '../../src/adapters/bullmq/fetch-watchdog.js';
import { Lease, LeaseLostError } from '../../src/app/daemon/lease.js';
import { afterFailure } from '../../src/domain/settlement.js';
import { ComputeRequirements, capacityShortfall } from '../../src/domain/compute-requirements.js';
import { UsageError } from '../../src/domain/errors.js';

const silent = pino({ level: 'silent' });
const needs = (vCPU: number, memory: number) => ComputeRequirements.parse({ vCPU, memory });

describe('CapacityLedger', () => {
  it('admits by slots, and runs only what fits in vCPU and memory beside what runs', () => {
    const host = { vcpu: 2048, memoryMiB: 6144 };
    const ledger = new CapacityLedger(3, host);
    // What can ever fit is the one capacity check the daemon and the local run share.
    expect(capacityShortfall(needs(4096, 8192), host)).toBeDefined();
    expect(capacityShortfall(needs(2048, 4096), host)).toBeUndefined();
    ledger.claimSlot();
    const first = ledger.tryReserve(needs(1024, 4096));
    expect(first).toEqual({ vcpu: 1024, memoryMiB: 4096 });
    ledger.claimSlot();
    // 1024 vCPU left but only 2048 MiB: a 1024/4096 action waits.
    expect(ledger.tryReserve(needs(1024, 4096))).toBeUndefined();
    expect(ledger.tryReserve(needs(512, 2048))).toEqual({ vcpu: 512, memoryMiB: 2048 });
    ledger.claimSlot();
    expect(ledger.hasFreeSlot()).toBe(false);
    expect(ledger.usage()).toEqual({ slots: 3, vcpu: 1536, memoryMiB: 6144 });
  });

  it('wakes a wait for room only when vCPU and memory are given back, not for a slot alone', async () => {
    const ledger = new CapacityLedger(2, { vcpu: 1024, memoryMiB: 2048 });
    ledger.claimSlot();
    const reservation = ledger.tryReserve(needs(1024, 2048));
    ledger.claimSlot();
    let roomFreed = false;
    const waiting = ledger.roomFreed().then(() => {
      roomFreed = true;
    });
    ledger.releaseSlot();
    await Promise.resolve();
    expect(roomFreed).toBe(false);
    if (reservation) ledger.release(reservation);
    await waiting;
    expect(roomFreed).toBe(true);
  });

  it('wakes whoever waits for room when room is given back', async () => {
    const ledger = new CapacityLedger(1, { vcpu: 1024, memoryMiB: 2048 });
    ledger.claimSlot();
    const reservation = ledger.tryReserve(needs(1024, 2048));
    let woken = false;
    const waiting = ledger.changed().then(() => {
      woken = true;
    });
    await Promise.resolve();
    expect(woken).toBe(false);
    if (reservation) ledger.release(reservation);
    ledger.releaseSlot();
    await waiting;
    expect(woken).toBe(true);
    expect(ledger.usage()).toEqual({ slots: 0, vcpu: 0, memoryMiB: 0 });
  });
});

describe('afterFailure', () => {
  const policy = { maxAttempts: 3, retryBackoffMs: 1_000 };

  it('never retries what is not retryable', () => {
    expect(afterFailure({ retryable: false }, 1, policy)).toEqual({ kind: 'final' });
    expect(afterFailure(undefined, 1, policy)).toEqual({ kind: 'final' });
  });

  it('retries with a doubling wait until the attempts are spent, then gives up', () => {
    expect(afterFailure({ retryable: true }, 1, policy)).toEqual({
      kind: 'retry',
      delayMs: 1_000,
      nextAttempt: 2,
    });
    expect(afterFailure({ retryable: true }, 2, policy)).toEqual({
      kind: 'retry',
      delayMs: 2_000,
      nextAttempt: 3,
    });
    expect(afterFailure({ retryable: true }, 3, policy)).toEqual({ kind: 'deadly' });
    expect(afterFailure({ retryable: true }, 30, { maxAttempts: 50, retryBackoffMs: 1_000 })).toMatchObject({
      delayMs: 600_000,
    });
  });
});

/** A job whose lock answers as scripted. */
function scriptedJob(answers: (number | Error)[]) {
  const calls: number[] = [];
  return {
    calls,
    renewLock: (duration: number) => {
      calls.push(duration);
      const answer = answers.shift() ?? 1;
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer === 1);
    },
  };
}

describe('Lease', () => {
  it('holds while renewals succeed, and is lost the moment one is refused', async () => {
    const job = scriptedJob([1, 0]);
    const lease = new Lease(job, 30_000, silent);
    await lease.assertHeld();
    expect(lease.isLost).toBe(false);
    await expect(lease.assertHeld()).rejects.toBeInstanceOf(LeaseLostError);
    expect(lease.isLost).toBe(true);
    expect(lease.lost.reason).toBeInstanceOf(LeaseLostError);
    expect((lease.lost.reason as LeaseLostError).code).toBe('E_LEASE_LOST');
    expect(job.calls).toEqual([30_000, 30_000]);
    // Once lost, it stays lost without asking again.
    await expect(lease.assertHeld()).rejects.toBeInstanceOf(LeaseLostError);
    expect(job.calls).toHaveLength(2);
  });

  it('rides out failed renewals for less than a lock duration, and is lost after a whole one', async () => {
    let now = 0;
    const job = scriptedJob([new Error('ECONNRESET'), new Error('ECONNRESET'), new Error('ECONNRESET')]);
    const lease = new Lease(job, 9_000, silent, () => now);
    now = 3_000;
    // Not confirmed, so not to be relied on (nothing may start on it), but not lost either.
    await expect(lease.assertHeld()).rejects.toThrow(/could not be confirmed/);
    now = 8_999;
    await expect(lease.assertHeld()).rejects.toThrow(/could not be confirmed/);
    expect(lease.isLost).toBe(false);
    now = 9_000;
    await expect(lease.assertHeld()).rejects.toThrow(/no renewal succeeded for 9 s/);
    expect(lease.isLost).toBe(true);
  });

  it('is lost after a lock duration even while a renewal hangs (Redis away, requests waiting)', async () => {
    vi.useFakeTimers();
    try {
      const calls: number[] = [];
      const hanging = {
        renewLock: () => {
          calls.push(1);
          return new Promise<boolean>(() => undefined);
        },
      };
      const lease = new Lease(hanging, 900, silent);
      lease.start();
      await vi.advanceTimersByTimeAsync(600);
      expect(lease.isLost).toBe(false);
      await vi.advanceTimersByTimeAsync(400);
      expect(lease.isLost).toBe(true);
      expect((lease.lost.reason as Error).message).toMatch(/no renewal succeeded/);
      expect(calls.length).toBeGreaterThan(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('can be given up when a write of its attempt is refused', async () => {
    const lease = new Lease(scriptedJob([]), 30_000, silent);
    lease.markLost('attempt 1 was superseded');
    await expect(lease.assertHeld()).rejects.toThrow(/attempt 1 was superseded/);
  });

  it('renews on its own timer, every third of the lock duration, until stopped', async () => {
    vi.useFakeTimers();
    try {
      const job = scriptedJob([]);
      const lease = new Lease(job, 900, silent);
      lease.start();
      await vi.advanceTimersByTimeAsync(900);
      expect(job.calls).toEqual([900, 900, 900]);
      lease.stop();
      await vi.advanceTimersByTimeAsync(900);
      expect(job.calls).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('FetchWatchdog', () => {
  it('calls a fetch stuck when it has not come back within the limit', () => {
    let now = 0;
    const watchdog = new FetchWatchdog(10_000, () => now);
    expect(watchdog.isStuck()).toBe(false);
    watchdog.fetchStarted();
    now = 10_000;
    expect(watchdog.isStuck()).toBe(false);
    now = 10_001;
    expect(watchdog.isStuck()).toBe(true);
    watchdog.fetchEnded();
    expect(watchdog.isStuck()).toBe(false);
    expect(watchdog.lastFetchAt).toBe(10_001);
  });
});

describe('redisOptions', () => {
  it('reads host, port, credentials, db and TLS from the URL, and waits through reconnects', () => {
    expect(redisOptions('rediss://user:p%40ss@redis.example:6380/2')).toMatchObject({
      host: 'redis.example',
      port: 6380,
      username: 'user',
      password: 'p@ss',
      db: 2,
      tls: {},
      maxRetriesPerRequest: null,
    });
    expect(redisOptions('redis://127.0.0.1')).toMatchObject({ host: '127.0.0.1', port: 6379 });
  });

  it('reconnects several times within a lock duration, whatever the outage lasts', () => {
    const lockDurationMs = 15_000;
    const { retryStrategy } = redisOptions('redis://127.0.0.1', 'wait', { lockDurationMs });
    const delays = Array.from({ length: 30 }, (_, index) => Number(retryStrategy?.(index + 1)));
    // A 10 s outage with a 15 s lock must not be noticed 8 s late.
    expect(Math.max(...delays)).toBeLessThanOrEqual(lockDurationMs / 4);
    expect(delays[0]).toBeGreaterThanOrEqual(250);
    // Without a lease to keep, the backoff still stops at 20 s; a long lock does not stretch it.
    const plain = redisOptions('redis://127.0.0.1').retryStrategy;
    const long = redisOptions('redis://127.0.0.1', 'wait', { lockDurationMs: 3_600_000 }).retryStrategy;
    expect(plain?.(30)).toBe(20_000);
    expect(long?.(30)).toBe(20_000);
    // A very short lock does not turn reconnecting into a busy loop.
    const short = redisOptions('redis://127.0.0.1', 'wait', { lockDurationMs: 1_000 }).retryStrategy;
    expect(short?.(30)).toBe(250);
  });

  it.each([
    ['localhost:6379', /must start with redis:\/\/ or rediss:\/\//],
    ['redis://host/abc', /the path must be a db number/],
    ['not a url', /is not a URL/],
  ])('refuses %s', (url, message) => {
    expect(() => redisOptions(url)).toThrow(UsageError);
    expect(() => redisOptions(url)).toThrow(message);
  });
});
