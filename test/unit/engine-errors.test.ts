import { describe, expect, it } from 'vitest';
import { engineError, isUnreachable } from '../../src/adapters/docker/engine-errors.js';
import { UsageError } from '../../src/domain/errors.js';

function socketError(code: string): Error {
  return Object.assign(new Error(`connect ${code} /var/run/docker.sock`), { code });
}

describe('engineError', () => {
  it('names an engine that cannot be reached, by the one set isUnreachable reads', () => {
    for (const code of ['ECONNREFUSED', 'ENOENT', 'EACCES']) {
      expect(isUnreachable(socketError(code))).toBe(true);
      expect(engineError('creating the container', socketError(code))).toMatchObject({
        code: 'E_DOCKER',
        retryable: true,
        message: `creating the container: the Docker engine is not reachable (${code})`,
      });
    }
  });

  it('passes on what the engine answered, and keeps our own errors', () => {
    const answered = Object.assign(new Error('(HTTP code 500) server error'), {
      statusCode: 500,
      json: { message: 'driver failed' },
    });
    expect(isUnreachable(answered)).toBe(false);
    expect(isUnreachable(socketError('ECONNRESET'))).toBe(false);
    expect(isUnreachable(undefined)).toBe(false);
    expect(engineError('starting', answered)).toMatchObject({
      code: 'E_DOCKER',
      retryable: true,
      message: 'starting: driver failed',
    });
    const ours = new UsageError('bad', 'E_INVALID_INPUT');
    expect(engineError('starting', ours)).toBe(ours);
  });
});
