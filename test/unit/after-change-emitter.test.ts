import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AfterChangeEmitter } from '../../src/app/after-change-emitter.js';
import type { TriggerEvent } from '../../src/domain/trigger-event.js';
import type { TriggerEventSink } from '../../src/ports/trigger-events.js';

// Pure logic of "emit after the change": fake sinks that fail or hang on purpose.
const event: TriggerEvent = {
  event_id: 'tx_1',
  org_id: 'og_a',
  dataset_id: 'ds_a',
  cause: 'file_upload',
  transaction_id: 'tx_1',
  file_ids: [],
  source_invocation_id: null,
  occurred: '2026-01-01T00:00:00Z',
};

function logged() {
  const lines: Array<{ msg: string; event_id?: string }> = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) },
  );
  return { lines, logger };
}

describe('AfterChangeEmitter', () => {
  it('retries a failing emit and succeeds', async () => {
    let calls = 0;
    const sink: TriggerEventSink = {
      emit: () => (++calls < 3 ? Promise.reject(new Error('redis away')) : Promise.resolve()),
    };
    const { lines, logger } = logged();
    await new AfterChangeEmitter(sink, logger, { backoffMs: 1 }).emit(event);
    expect(calls).toBe(3);
    expect(lines.map((l) => l.msg)).toEqual(['trigger.event_emitted']);
  });

  it('never throws: when every attempt fails the event is logged as lost', async () => {
    const sink: TriggerEventSink = { emit: () => Promise.reject(new Error('redis away')) };
    const { lines, logger } = logged();
    await expect(
      new AfterChangeEmitter(sink, logger, { attempts: 2, backoffMs: 1 }).emit(event),
    ).resolves.toBeUndefined();
    expect(lines.map((l) => [l.msg, l.event_id])).toEqual([['trigger.event_lost', 'tx_1']]);
  });

  it('does not hold the change past its bound when the sink waits (the emit goes on behind)', async () => {
    let release: () => void = () => undefined;
    let emitted = false;
    const sink: TriggerEventSink = {
      emit: () =>
        new Promise<void>((resolve) => {
          release = () => {
            emitted = true;
            resolve();
          };
        }),
    };
    const { lines, logger } = logged();
    await new AfterChangeEmitter(sink, logger, { boundMs: 5 }).emit(event);
    expect(lines.map((l) => l.msg)).toEqual(['trigger.event_delayed']);
    release();
    expect(emitted).toBe(true);
  });
});
