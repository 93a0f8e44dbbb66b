import { describe, expect, it } from 'vitest';
import { SharedPulls } from '../../src/adapters/docker/shared-pulls.js';

/** A pull the test finishes by hand, remembering the signal it was given. */
function manualPull(): {
  start: (signal: AbortSignal) => Promise<string>;
  finish: (value: string) => void;
  signals: AbortSignal[];
} {
  const signals: AbortSignal[] = [];
  let finish: (value: string) => void = () => undefined;
  return {
    signals,
    finish: (value) => {
      finish(value);
    },
    start: (signal) => {
      signals.push(signal);
      return new Promise<string>((resolve, reject) => {
        finish = resolve;
        signal.addEventListener('abort', () => {
          reject(new Error('pull aborted'));
        });
      });
    },
  };
}

describe('SharedPulls', () => {
  it('runs one pull for callers asking for the same reference at once', async () => {
    const pulls = new SharedPulls<string>();
    const pull = manualPull();
    const first = pulls.join('ref', new AbortController().signal, pull.start);
    const second = pulls.join('ref', new AbortController().signal, pull.start);
    pull.finish('image');
    expect(await Promise.all([first, second])).toEqual(['image', 'image']);
    expect(pull.signals).toHaveLength(1);
  });

  it('lets one caller give up without aborting the pull another still waits for', async () => {
    const pulls = new SharedPulls<string>();
    const pull = manualPull();
    const leaving = new AbortController();
    const first = pulls.join('ref', leaving.signal, pull.start);
    const second = pulls.join('ref', new AbortController().signal, pull.start);
    leaving.abort(new Error('cancelled'));
    await expect(first).rejects.toThrow('cancelled');
    expect(pull.signals[0]?.aborted).toBe(false);
    pull.finish('image');
    expect(await second).toBe('image');
  });

  it('aborts the pull once every caller gave up, and starts a fresh one for the next', async () => {
    const pulls = new SharedPulls<string>();
    const pull = manualPull();
    const leaving = new AbortController();
    const first = pulls.join('ref', leaving.signal, pull.start);
    leaving.abort(new Error('cancelled'));
    await expect(first).rejects.toThrow('cancelled');
    expect(pull.signals[0]?.aborted).toBe(true);
    const next = pulls.join('ref', new AbortController().signal, pull.start);
    expect(pull.signals).toHaveLength(2);
    pull.finish('image');
    expect(await next).toBe('image');
  });

  it('keeps the fresh pull shared when an abandoned one settles only after it started', async () => {
    const pulls = new SharedPulls<string>();
    const started: { signal: AbortSignal; finish: (value: string) => void }[] = [];
    // A pull that ignores its abort and ends only when finished by hand (an engine slow to let go).
    const start = (signal: AbortSignal): Promise<string> =>
      new Promise<string>((resolve) => {
        started.push({ signal, finish: resolve });
      });
    const leaving = new AbortController();
    const abandoned = pulls.join('ref', leaving.signal, start);
    leaving.abort(new Error('cancelled'));
    await expect(abandoned).rejects.toThrow('cancelled');
    const second = pulls.join('ref', new AbortController().signal, start);
    expect(started).toHaveLength(2);
    started[0]!.finish('late');
    await Promise.resolve();
    await Promise.resolve();
    // The abandoned pull settling must not take the fresh one out of the map: a third caller joins it.
    const third = pulls.join('ref', new AbortController().signal, start);
    expect(started).toHaveLength(2);
    started[1]!.finish('image');
    expect(await Promise.all([second, third])).toEqual(['image', 'image']);
  });
});
