import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { EngineHealth } from '../../src/app/daemon/engine-health.js';

/** A logger keeping the event names it was given. */
function recordingLogger(): { logger: pino.Logger; events: string[] } {
  const events: string[] = [];
  const logger = pino(
    { level: 'debug' },
    {
      write: (line: string) => {
        events.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  return { logger, events };
}

const fast = { firstRetryDelayMs: 5, maxRetryDelayMs: 20, probeTimeoutMs: 50 };

describe('EngineHealth', () => {
  it('lets a fetch through at once while the engine answers, without pinging before every one', async () => {
    let pings = 0;
    const { logger, events } = recordingLogger();
    const health = new EngineHealth(
      () => {
        pings += 1;
        return Promise.resolve();
      },
      logger,
      { ...fast, freshForMs: 60_000 },
    );
    await health.untilAnswering(new AbortController().signal);
    await health.untilAnswering(new AbortController().signal);
    expect(pings).toBe(1);
    expect(health.isAnswering).toBe(true);
    expect(events).toEqual([]);
  });

  it('holds fetching while the engine does not answer, and lets it go on once it does', async () => {
    let isUp = false;
    let pings = 0;
    const { logger, events } = recordingLogger();
    const health = new EngineHealth(
      () => {
        pings += 1;
        return isUp ? Promise.resolve() : Promise.reject(new Error('connect ECONNREFUSED'));
      },
      logger,
      fast,
    );
    let isThrough = false;
    const waiting = health.untilAnswering(new AbortController().signal).then(() => {
      isThrough = true;
    });
    while (pings < 4) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(isThrough).toBe(false);
    expect(health.isAnswering).toBe(false);
    isUp = true;
    await waiting;
    expect(health.isAnswering).toBe(true);
    // One line when it goes away, one when it is back: not one per ping.
    expect(events).toEqual(['docker.unreachable', 'docker.reachable']);
  });

  it('asks the engine afresh when a fetched job is about to run, even right after an answer', async () => {
    let isUp = true;
    let pings = 0;
    const { logger, events } = recordingLogger();
    const health = new EngineHealth(
      () => {
        pings += 1;
        return isUp ? Promise.resolve() : Promise.reject(new Error('connect ECONNREFUSED'));
      },
      logger,
      { ...fast, freshForMs: 60_000 },
    );
    await health.untilAnswering(new AbortController().signal);
    isUp = false;
    expect(await health.answersNow()).toBe(false);
    expect(await health.answersNow()).toBe(false);
    expect(pings).toBe(3);
    expect(health.isAnswering).toBe(false);
    isUp = true;
    expect(await health.answersNow()).toBe(true);
    expect(events).toEqual(['docker.unreachable', 'docker.reachable']);
  });

  it('counts a ping that hangs as failed', async () => {
    let pings = 0;
    const health = new EngineHealth(
      () => {
        pings += 1;
        // The first ping never answers (an engine socket accepting but not serving); the next ones do.
        return pings === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
      },
      recordingLogger().logger,
      fast,
    );
    await health.untilAnswering(new AbortController().signal);
    expect(pings).toBe(2);
  });

  it('stops waiting when the worker stops', async () => {
    const health = new EngineHealth(
      () => Promise.reject(new Error('connect ENOENT')),
      recordingLogger().logger,
      fast,
    );
    const stop = new AbortController();
    const waiting = health.untilAnswering(stop.signal);
    setTimeout(() => {
      stop.abort(new Error('stopping'));
    }, 30);
    await expect(waiting).rejects.toThrow('stopping');
  });
});
