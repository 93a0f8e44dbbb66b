import { describe, expect, it } from 'vitest';
import { InvocationStatus, statusName } from '../../src/domain/invocation-status.js';
import {
  type AttemptOutcome,
  type RecordState,
  settleAttempt,
  settleInvalidRequest,
  settlePrevious,
  settleUnfittable,
} from '../../src/domain/settlement.js';

/** The README's defaults: 3 attempts, the first retry after 5 s. */
const policy = { maxAttempts: 3, retryBackoffMs: 5_000 };

const { Queued, Scheduled, Downloading, Processing, Uploading, Completed, Cancelled, Failed, Deadly } =
  InvocationStatus;

const completed: AttemptOutcome = { status: Completed, detail: null, isWorkerShutdown: false };
const cancelled: AttemptOutcome = { status: Cancelled, detail: 'cancelled', isWorkerShutdown: false };
const infra: AttemptOutcome = {
  status: Failed,
  detail: 'the Docker engine stopped or restarted while the action ran',
  failure: { retryable: true },
  isWorkerShutdown: false,
};
const ownFailure: AttemptOutcome = {
  status: Failed,
  detail: 'exited with code 3',
  failure: { retryable: false },
  isWorkerShutdown: false,
};
const shutdown: AttemptOutcome = {
  status: Failed,
  detail: 'stopped: the worker is shutting down',
  failure: { retryable: true },
  isWorkerShutdown: true,
};

describe('settleAttempt', () => {
  it.each([
    ['a completed attempt completes the job', completed, 1, 0, { kind: 'complete' }],
    ['a cancelled attempt completes the job', cancelled, 1, 0, { kind: 'complete' }],
    [
      "the action's own failure (exit, OOM, timeout, bad input, image not found) is final, not retried",
      ownFailure,
      1,
      0,
      { kind: 'fail-final' },
    ],
    [
      'a failure without a reason is final',
      { status: Failed, detail: 'failed', isWorkerShutdown: false },
      1,
      0,
      { kind: 'fail-final' },
    ],
    [
      'an infrastructure failure on attempt 1 is retried after 5 s',
      infra,
      1,
      0,
      {
        kind: 'retry',
        delayMs: 5_000,
        nextAttempt: 2,
        write: { status: Queued, detail: 'retrying (attempt 2 of 3) in 5 s' },
      },
    ],
    [
      'on attempt 2 the wait doubles to 10 s',
      infra,
      2,
      0,
      {
        kind: 'retry',
        delayMs: 10_000,
        nextAttempt: 3,
        write: { status: Queued, detail: 'retrying (attempt 3 of 3) in 10 s' },
      },
    ],
    [
      'after the last attempt it is Deadly, naming the last failure',
      infra,
      3,
      0,
      {
        kind: 'deadly',
        detail:
          'gave up after 3 attempt(s); the last: the Docker engine stopped or restarted while the action ran',
        write: {
          status: Deadly,
          detail:
            'gave up after 3 attempt(s); the last: the Docker engine stopped or restarted while the action ran',
        },
      },
    ],
    [
      'Deadly says "failed" when the last failure had no detail',
      { ...infra, detail: null },
      3,
      0,
      {
        kind: 'deadly',
        detail: 'gave up after 3 attempt(s); the last: failed',
        write: { status: Deadly, detail: 'gave up after 3 attempt(s); the last: failed' },
      },
    ],
    [
      'attempts handed back are not spent: attempt 3 after one hand-back is the second spent',
      infra,
      3,
      1,
      {
        kind: 'retry',
        delayMs: 10_000,
        nextAttempt: 3,
        write: { status: Queued, detail: 'retrying (attempt 3 of 3) in 10 s' },
      },
    ],
    [
      'a failure on shutdown is handed back without spending an attempt',
      shutdown,
      3,
      0,
      { kind: 'hand-back', write: { status: Queued, detail: 'handed back: the worker is shutting down' } },
    ],
    [
      'a shutdown hands back even a failure that would be final',
      { ...ownFailure, isWorkerShutdown: true },
      1,
      0,
      { kind: 'hand-back', write: { status: Queued, detail: 'handed back: the worker is shutting down' } },
    ],
    [
      'an attempt that completed while the worker was stopping completes the job',
      { ...completed, isWorkerShutdown: true },
      1,
      0,
      { kind: 'complete' },
    ],
  ] as const)('%s', (_name, outcome, attempt, handbacks, expected) => {
    expect(settleAttempt({ outcome, attempt, handbacks, policy })).toEqual(expected);
  });

  it('never waits more than 10 min between attempts', () => {
    const decision = settleAttempt({
      outcome: infra,
      attempt: 30,
      handbacks: 0,
      policy: { maxAttempts: 50, retryBackoffMs: 5_000 },
    });
    expect(decision).toMatchObject({ kind: 'retry', delayMs: 600_000, nextAttempt: 31 });
    expect(decision.kind === 'retry' && decision.write.detail).toBe('retrying (attempt 31 of 50) in 10 min');
  });
});

const record = (state: Partial<RecordState>): RecordState => ({
  last_status: Queued,
  is_finished: false,
  is_cancel_requested: false,
  handbacks: 0,
  ...state,
});

describe('settlePrevious', () => {
  it.each([
    ['a fresh Queued record runs', record({}), 1, { kind: 'run' }],
    [
      'a finished record is left alone',
      record({ last_status: Failed, is_finished: true }),
      2,
      { kind: 'done', isAlreadySettled: true },
    ],
    ...[Completed, Cancelled, Deadly].map(
      (status) =>
        [
          `a ${statusName(status)} record is left alone`,
          record({ last_status: status }),
          2,
          { kind: 'done', isAlreadySettled: true },
        ] as const,
    ),
    ...[Scheduled, Downloading, Processing, Uploading].map(
      (status) =>
        [
          `an attempt lost in ${statusName(status)} is recorded as Failed`,
          record({ last_status: status }),
          2,
          {
            kind: 'write',
            write: {
              status: Failed,
              detail: 'attempt 1 was lost: its worker stopped holding the invocation',
            },
            thenDone: false,
            isLost: true,
          },
        ] as const,
    ),
    [
      'a lost attempt with attempts left is retried now',
      record({ last_status: Failed }),
      2,
      {
        kind: 'write',
        write: { status: Queued, detail: 'retrying (attempt 2 of 3)' },
        thenDone: false,
        isLost: false,
      },
    ],
    [
      'a lost last attempt is Deadly',
      record({ last_status: Failed }),
      4,
      {
        kind: 'write',
        write: { status: Deadly, detail: 'gave up after 3 attempt(s)' },
        thenDone: true,
        isLost: false,
      },
    ],
    [
      'hand-backs are not spent when a lost attempt is settled',
      record({ last_status: Failed, handbacks: 1 }),
      4,
      {
        kind: 'write',
        write: { status: Queued, detail: 'retrying (attempt 3 of 3)' },
        thenDone: false,
        isLost: false,
      },
    ],
    [
      'a cancel asked for wins over Deadly: Queued first, to be Cancelled',
      record({ last_status: Failed, is_cancel_requested: true }),
      4,
      {
        kind: 'write',
        write: { status: Queued, detail: 'no retry: cancel requested' },
        thenDone: false,
        isLost: false,
      },
    ],
    [
      'a Queued record whose cancel was asked for is Cancelled before it runs',
      record({ is_cancel_requested: true }),
      2,
      {
        kind: 'write',
        write: { status: Cancelled, detail: 'cancelled before it ran' },
        thenDone: true,
        isLost: false,
      },
    ],
  ] as const)('%s', (_name, state, attempt, expected) => {
    expect(settlePrevious(state, attempt, policy)).toEqual(expected);
  });

  /** Carries the steps out against a record that takes every write, as the daemon does against Redis. */
  function settle(start: RecordState, attempt: number): { writes: string[]; result: 'run' | 'done' } {
    let state = start;
    const writes: string[] = [];
    for (;;) {
      const step = settlePrevious(state, attempt, policy);
      if (step.kind !== 'write') return { writes, result: step.kind };
      writes.push(step.write.detail);
      state = { ...state, last_status: step.write.status };
      if (step.thenDone) return { writes, result: 'done' };
    }
  }

  it('takes a lost attempt through Failed and Queued to a run', () => {
    expect(settle(record({ last_status: Processing }), 2)).toEqual({
      writes: ['attempt 1 was lost: its worker stopped holding the invocation', 'retrying (attempt 2 of 3)'],
      result: 'run',
    });
  });

  it('takes a lost attempt whose cancel was asked for to Cancelled, not Deadly', () => {
    expect(settle(record({ last_status: Processing, is_cancel_requested: true }), 4)).toEqual({
      writes: [
        'attempt 3 was lost: its worker stopped holding the invocation',
        'no retry: cancel requested',
        'cancelled before it ran',
      ],
      result: 'done',
    });
  });

  it('takes a lost last attempt to Deadly', () => {
    expect(settle(record({ last_status: Uploading }), 4)).toEqual({
      writes: ['attempt 3 was lost: its worker stopped holding the invocation', 'gave up after 3 attempt(s)'],
      result: 'done',
    });
  });
});

describe('settleUnfittable', () => {
  const detail = 'setup failed: the action needs 8 vCPU (this host offers 2)';

  it.each([
    [
      'a Queued invocation is Failed for good as bad input',
      record({}),
      { status: Failed, detail, final: true },
    ],
    ['one an earlier attempt Failed is Deadly', record({ last_status: Failed }), { status: Deadly, detail }],
    ['a finished one is left alone', record({ last_status: Failed, is_finished: true }), undefined],
    ['a Cancelled one is left alone', record({ last_status: Cancelled }), undefined],
  ] as const)('%s', (_name, state, expected) => {
    expect(settleUnfittable(state, detail)).toEqual(expected);
  });
});

describe('settleInvalidRequest', () => {
  const reason = "invocation iv_abcd's request: action.image: not an image reference";

  it.each([
    ['a Queued invocation is Failed for good', record({}), { status: Failed, detail: reason, final: true }],
    ['a Failed one is left as it is', record({ last_status: Failed }), undefined],
    ['a finished one is left alone', record({ last_status: Completed, is_finished: true }), undefined],
  ] as const)('%s', (_name, state, expected) => {
    expect(settleInvalidRequest(state, reason)).toEqual(expected);
  });
});
