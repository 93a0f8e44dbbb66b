import { errorCodes } from 'fastify';
import { describe, expect, it } from 'vitest';
import { HttpError, errorAnswer } from '../../src/api/errors.js';
import { InfrastructureError, MalformedRecordError, UsageError } from '../../src/domain/errors.js';

const row = (error: unknown) => {
  const { status, body, internal } = errorAnswer(error);
  return { status, code: body.error.error_code, message: body.error.message, internal };
};

describe('the error envelope (spec §1.8)', () => {
  it.each([
    [
      'an HttpError as it says',
      new HttpError(409, 'RobotoConflictException', 'taken'),
      409,
      'RobotoConflictException',
      'taken',
    ],
    [
      'a UsageError: bad input',
      new UsageError('no such field "x"'),
      400,
      'RobotoInvalidRequestException',
      'no such field "x"',
    ],
    [
      'a changeset error: bad input',
      new UsageError('bad changeset', 'E_INVALID_CHANGESET'),
      400,
      'RobotoInvalidRequestException',
      'bad changeset',
    ],
    [
      'retryable infrastructure: unavailable',
      new InfrastructureError('disk', 'E_IO'),
      503,
      'RobotoServiceUnavailableException',
      'disk',
    ],
    [
      "a malformed stored record: ours, not the caller's",
      new MalformedRecordError('iv_1', 'status'),
      500,
      'RobotoServiceException',
      undefined,
    ],
    [
      'bad JSON',
      new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(),
      400,
      'RobotoInvalidRequestException',
      undefined,
    ],
    [
      'an empty JSON body',
      new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(),
      400,
      'RobotoInvalidRequestException',
      undefined,
    ],
    [
      'a body too large',
      new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(),
      413,
      'RobotoInvalidRequestException',
      undefined,
    ],
    [
      'an unsupported media type',
      new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE('text/plain'),
      415,
      'RobotoInvalidRequestException',
      undefined,
    ],
  ] as const)('maps %s', (_what, error, status, code, message) => {
    const answer = row(error);
    expect(answer.status).toBe(status);
    expect(answer.code).toBe(code);
    if (message !== undefined) expect(answer.message).toBe(message);
    expect(answer.internal).toBe(status >= 500);
  });

  it('names the fields of a schema violation', () => {
    const error = Object.assign(new Error('validation'), {
      statusCode: 400,
      code: 'FST_ERR_VALIDATION',
      validationContext: 'body',
      validation: [{ instancePath: '/tags/0', message: 'expected string, received number' }],
    });
    expect(row(error)).toMatchObject({
      status: 400,
      code: 'RobotoInvalidRequestException',
      message: 'body.tags.0: expected string, received number',
    });
  });

  it('gives an unknown error 500 without its message, which may hold internals', () => {
    const answer = row(new Error('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2'));
    expect(answer).toMatchObject({ status: 500, code: 'RobotoServiceException', message: 'internal error' });
    expect(answer.internal).toBe(true);
  });

  it('keeps every error_code a class name the SDK knows (Roboto…Exception)', () => {
    for (const error of [
      new UsageError('x'),
      new Error('x'),
      new HttpError(404, 'RobotoDatasetNotFoundException', 'x'),
    ]) {
      expect(row(error).code).toMatch(/^Roboto[A-Za-z]+Exception$/);
    }
  });
});
