import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { ActionWorkerError, ERROR_CODES } from '../domain/errors.js';

/**
 * The `error_code`s we emit: class names of the SDK's RobotoDomainException tree (spec §1.8), which the SDK
 * turns back into those exceptions whatever the status.
 */
export type RobotoErrorCode =
  | 'RobotoInvalidRequestException'
  | 'RobotoIllegalArgumentException'
  | 'RobotoInvalidStateTransitionException'
  | 'RobotoNoOrgProvidedException'
  | 'RobotoUnauthorizedException'
  | 'RobotoNotFoundException'
  | 'RobotoDatasetNotFoundException'
  | 'RobotoConflictException'
  | 'RobotoServiceException'
  | 'RobotoServiceUnavailableException';

/** An error a route or hook throws to answer with this status and code: the HTTP side of a refusal. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: RobotoErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (message: string): HttpError =>
  new HttpError(404, 'RobotoNotFoundException', message);
export const unauthorized = (message: string): HttpError =>
  new HttpError(401, 'RobotoUnauthorizedException', message);

export interface ErrorEnvelope {
  error: { error_code: RobotoErrorCode; message: string };
}

export interface ErrorAnswer {
  status: number;
  body: ErrorEnvelope;
  /** A 5xx that is ours to look at: the handler logs it with its stack. */
  internal: boolean;
}

const answer = (status: number, errorCode: RobotoErrorCode, message: string): ErrorAnswer => ({
  status,
  body: { error: { error_code: errorCode, message } },
  internal: status >= 500,
});

/** The code the SDK maps a status to when no class name is given (§1.8 fallback), for Fastify's own 4xx. */
function codeForStatus(status: number): RobotoErrorCode {
  if (status === 401 || status === 403) return 'RobotoUnauthorizedException';
  if (status === 404) return 'RobotoNotFoundException';
  if (status === 409) return 'RobotoConflictException';
  if (status >= 500) return 'RobotoServiceException';
  return 'RobotoInvalidRequestException';
}

/** "body.name: Invalid input: expected string, received number; querystring.limit: …" */
function validationMessage(error: { validation: unknown; validationContext?: string }): string {
  const issues = Array.isArray(error.validation) ? (error.validation as unknown[]) : [];
  const parts = issues.map((issue) => {
    const { instancePath, message } = issue as { instancePath?: string; message?: string };
    const where = (instancePath ?? '').split('/').filter(Boolean).join('.');
    const field = [error.validationContext, where].filter(Boolean).join('.');
    return `${field || 'request'}: ${message ?? 'invalid'}`;
  });
  return parts.length > 0 ? parts.join('; ') : 'the request does not match its schema';
}

/**
 * The one mapping from anything a request can fail with to the error envelope and its status (spec §1.8):
 * our HttpErrors as they say; request validation → 400; Fastify's refusals (bad JSON, too large, media
 * type…) → their status with the code the SDK expects for it; our domain errors by their code's reason
 * (bad input → 400, retryable infrastructure → 503, the rest → 500); anything else → 500 without its
 * message, which may hold internals.
 */
export function errorAnswer(error: unknown): ErrorAnswer {
  if (error instanceof HttpError) return answer(error.status, error.errorCode, error.message);
  if (hasZodFastifySchemaValidationErrors(error)) {
    return answer(400, 'RobotoInvalidRequestException', validationMessage(error));
  }
  if (isResponseSerializationError(error)) {
    return answer(500, 'RobotoServiceException', 'the response did not match its schema');
  }
  if (error instanceof ActionWorkerError) {
    const rule = ERROR_CODES[error.code];
    if (rule.reason === 'bad_input' && error.code !== 'E_MALFORMED_RECORD') {
      return answer(400, 'RobotoInvalidRequestException', error.message);
    }
    if (rule.retryable) return answer(503, 'RobotoServiceUnavailableException', error.message);
    return answer(500, 'RobotoServiceException', error.message);
  }
  const fastify = error as { code?: unknown; statusCode?: unknown; message?: unknown; validation?: unknown };
  if (
    typeof fastify.code === 'string' &&
    fastify.code.startsWith('FST_') &&
    typeof fastify.statusCode === 'number'
  ) {
    const status = fastify.statusCode;
    if (status >= 400 && status < 500) {
      const message =
        fastify.validation !== undefined
          ? validationMessage(fastify as { validation: unknown })
          : String(fastify.message);
      return answer(status, codeForStatus(status), message);
    }
  }
  return answer(500, 'RobotoServiceException', 'internal error');
}
