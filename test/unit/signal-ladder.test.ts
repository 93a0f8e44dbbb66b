import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installSignalLadder } from '../../src/app/signal-ladder.js';

/** A stand-in for `process`: signals are events emitted by the test. */
class FakeProcess extends EventEmitter {
  send(signal: NodeJS.Signals): void {
    this.emit(signal, signal);
  }
}

function ladder(fake: FakeProcess) {
  const calls: string[] = [];
  const uninstall = installSignalLadder(fake, {
    onSignal: (signal, count) => calls.push(`signal ${signal} ${count}`),
    graceful: (signal) => calls.push(`graceful ${signal}`),
    force: (signal) => calls.push(`force ${signal}`),
    exit: (signal) => calls.push(`exit ${signal}`),
  });
  return { calls, uninstall };
}

describe('installSignalLadder', () => {
  it('stops gracefully on the first signal, forces on the second, exits on the third and after', () => {
    const fake = new FakeProcess();
    const { calls } = ladder(fake);
    fake.send('SIGTERM');
    expect(calls).toEqual(['signal SIGTERM 1', 'graceful SIGTERM']);
    fake.send('SIGTERM');
    fake.send('SIGTERM');
    fake.send('SIGTERM');
    expect(calls.slice(2)).toEqual([
      'signal SIGTERM 2',
      'force SIGTERM',
      'signal SIGTERM 3',
      'exit SIGTERM',
      'signal SIGTERM 4',
      'exit SIGTERM',
    ]);
  });

  it('counts SIGINT and SIGTERM together', () => {
    const fake = new FakeProcess();
    const { calls } = ladder(fake);
    fake.send('SIGINT');
    fake.send('SIGTERM');
    fake.send('SIGINT');
    expect(calls.filter((call) => !call.startsWith('signal'))).toEqual([
      'graceful SIGINT',
      'force SIGTERM',
      'exit SIGINT',
    ]);
  });

  it('takes its listeners off again, leaving other signals alone', () => {
    const fake = new FakeProcess();
    const { calls, uninstall } = ladder(fake);
    fake.send('SIGHUP');
    expect(fake.listenerCount('SIGINT')).toBe(1);
    uninstall();
    expect(fake.listenerCount('SIGINT') + fake.listenerCount('SIGTERM')).toBe(0);
    fake.send('SIGINT');
    expect(calls).toEqual([]);
  });
});
