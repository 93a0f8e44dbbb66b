import { describe, expect, expectTypeOf, it } from 'vitest';
import { afterFailure } from '../../src/domain/settlement.js';
import { WaitTimeoutError } from '../../src/app/invocations.js';
import { CliExitCode, exitCodeForError, exitCodeForOutcome } from '../../src/cli/exit-codes.js';
import {
  ActionWorkerError,
  CancelledError,
  ERROR_CODES,
  type ErrorCode,
  type ErrorCodeRule,
  FencedError,
  InfrastructureError,
  InvalidTransitionError,
  MalformedRecordError,
  UsageError,
} from '../../src/domain/errors.js';
import { failureReasonFor, isRetryable } from '../../src/domain/failure.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import type { InvocationOutcome } from '../../src/stages/execute-invocation.js';

const ALL_CODES = Object.keys(ERROR_CODES) as ErrorCode[];

function outcome(status: InvocationOutcome['status'], code?: ErrorCode): InvocationOutcome {
  return {
    status,
    detail: null,
    ...(code === undefined
      ? {}
      : { failure: { code, reason: failureReasonFor(code), retryable: ERROR_CODES[code].retryable } }),
    uploaded: [],
    refused: [],
    uploadDatasetId: null,
    log: '',
    history: [],
  };
}

describe('ERROR_CODES', () => {
  it('has a row for every error code, checked by the compiler', () => {
    expectTypeOf(ERROR_CODES).toExtend<Record<ErrorCode, ErrorCodeRule>>();
    expectTypeOf<keyof typeof ERROR_CODES>().toEqualTypeOf<ErrorCode>();
    expect(ALL_CODES).toHaveLength(25);
  });

  it('retries exactly the infrastructure failures the README lists', () => {
    // "Docker or I/O errors, an engine restart, transient pull errors, a lost lease or a lost worker".
    expect(ALL_CODES.filter((code) => ERROR_CODES[code].retryable).sort()).toEqual(
      ['E_DOCKER', 'E_ENGINE_RESTARTED', 'E_IMAGE_PULL', 'E_IO', 'E_LEASE_LOST', 'E_WORKER_SHUTDOWN'].sort(),
    );
  });

  it('gives the exit codes of the README', () => {
    const exitCodes: [ErrorCode, number][] = [
      ['E_ACTION_EXIT', 1],
      ['E_OOM', 1],
      ['E_TIMEOUT', 1],
      ['E_STORAGE_EXCEEDED', 1],
      ['E_USAGE', 64],
      ['E_INVALID_ACTION_CONFIG', 64],
      ['E_INVALID_PARAMETER', 64],
      ['E_SECRET_NOT_FOUND', 64],
      ['E_INVALID_INPUT', 64],
      ['E_INVALID_IMAGE_REFERENCE', 64],
      ['E_IMAGE_NOT_FOUND', 64],
      ['E_IMAGE_UNAUTHORIZED', 64],
      ['E_CAPACITY', 64],
      ['E_MALFORMED_RECORD', 65],
      ['E_DOCKER', 70],
      ['E_IO', 70],
      ['E_IMAGE_PULL', 70],
      ['E_INTERNAL', 70],
      ['E_CANCELLED', 130],
    ];
    for (const [code, exitCode] of exitCodes)
      expect({ code, exitCode: ERROR_CODES[code].exitCode }).toEqual({ code, exitCode });
  });

  it('makes every retryable code an infrastructure exit (70)', () => {
    for (const code of ALL_CODES.filter((each) => ERROR_CODES[each].retryable)) {
      expect({ code, exitCode: ERROR_CODES[code].exitCode }).toEqual({
        code,
        exitCode: CliExitCode.internal,
      });
    }
  });

  it('gives codes that share a failure reason the same retryability, which is the reason’s', () => {
    for (const code of ALL_CODES) {
      const { reason, retryable } = ERROR_CODES[code];
      expect(failureReasonFor(code)).toBe(reason);
      expect({ code, retryable: isRetryable(reason) }).toEqual({ code, retryable });
    }
    expect(failureReasonFor('E_INVALID_CHANGESET')).toBe('bad_input');
    expect(failureReasonFor('E_ENGINE_RESTARTED')).toBe('engine_restarted');
  });
});

describe('error classes', () => {
  it('take their retryability from the table', () => {
    for (const code of ALL_CODES) {
      expect({ code, retryable: new ActionWorkerError('x', { code }).retryable }).toEqual({
        code,
        retryable: ERROR_CODES[code].retryable,
      });
    }
    expect(new UsageError('x', 'E_IMAGE_NOT_FOUND').retryable).toBe(false);
    expect(new InfrastructureError('x', 'E_IO').retryable).toBe(true);
    expect(new InfrastructureError('x')).toMatchObject({ code: 'E_DOCKER', retryable: true });
    expect(new CancelledError()).toMatchObject({ code: 'E_CANCELLED', retryable: false });
  });

  it('keep the one override: a CLI wait that ran out may be waited for again', () => {
    expect(new WaitTimeoutError('inv_1', 'Processing')).toMatchObject({ code: 'E_TIMEOUT', retryable: true });
  });

  it('include the errors of the invocation-store contract', () => {
    expect(new FencedError('inv_1', 2)).toMatchObject({
      name: 'FencedError',
      code: 'E_LEASE_LOST',
      retryable: true,
      message: 'attempt 2 of invocation inv_1 no longer holds it',
    });
    expect(new MalformedRecordError('inv_1', 'request (not JSON)')).toMatchObject({
      code: 'E_MALFORMED_RECORD',
      retryable: false,
      message: 'invocation inv_1 has a malformed record: its request (not JSON) cannot be read',
    });
    expect(
      new InvalidTransitionError('inv_1', InvocationStatus.Completed, InvocationStatus.Queued),
    ).toMatchObject({
      code: 'E_USAGE',
      retryable: false,
      message: 'invocation inv_1 cannot go from Completed to Queued',
    });
  });
});

describe('the retry policy', () => {
  const policy = { maxAttempts: 3, retryBackoffMs: 1_000 };

  it('reads the error’s own retryability', () => {
    expect(afterFailure(new InfrastructureError('x', 'E_IO'), 1, policy)).toMatchObject({ kind: 'retry' });
    expect(afterFailure(new FencedError('inv_1', 1), 1, policy)).toMatchObject({ kind: 'retry' });
    expect(afterFailure(new UsageError('x', 'E_CAPACITY'), 1, policy)).toEqual({ kind: 'final' });
    expect(afterFailure(new ActionWorkerError('x', { code: 'E_OOM' }), 1, policy)).toEqual({ kind: 'final' });
  });
});

describe('CLI exit codes', () => {
  it('come from the table for errors, and 70 for anything not ours', () => {
    for (const code of ALL_CODES) {
      expect(exitCodeForError(new ActionWorkerError('x', { code }))).toBe(ERROR_CODES[code].exitCode);
    }
    expect(exitCodeForError(new MalformedRecordError('inv_1', 'status'))).toBe(65);
    expect(exitCodeForError(new UsageError('x', 'E_INVALID_PARAMETER'))).toBe(64);
    expect(exitCodeForError(new Error('boom'))).toBe(70);
    expect(exitCodeForError('boom')).toBe(70);
  });

  it('follow the outcome of a run', () => {
    expect(exitCodeForOutcome(outcome(InvocationStatus.Completed))).toBe(0);
    expect(exitCodeForOutcome(outcome(InvocationStatus.Cancelled, 'E_CANCELLED'))).toBe(130);
    expect(exitCodeForOutcome(outcome(InvocationStatus.Failed, 'E_ACTION_EXIT'))).toBe(1);
    expect(exitCodeForOutcome(outcome(InvocationStatus.Failed, 'E_STORAGE_EXCEEDED'))).toBe(1);
    expect(exitCodeForOutcome(outcome(InvocationStatus.Failed, 'E_IMAGE_UNAUTHORIZED'))).toBe(64);
    expect(exitCodeForOutcome(outcome(InvocationStatus.Failed, 'E_ENGINE_RESTARTED'))).toBe(70);
    expect(exitCodeForOutcome(outcome(InvocationStatus.Failed))).toBe(70);
  });
});
