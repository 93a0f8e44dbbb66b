import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../errors.js';
import type { Caller, OrgScope } from '../org-scope.js';
import { ErrorEnvelope } from '../schemas.js';

/**
 * What route modules share. A route module is a `FastifyPluginAsyncZod<Options>` registered by
 * `buildApiServer` (server.ts) with the dependencies it needs; the authentication hook has run before any
 * of its handlers, so `callerOf`/`scopeOf` always find the caller.
 */

/** The error answers every /v1 route documents (all in the error envelope). */
export const ERROR_RESPONSES = {
  400: ErrorEnvelope,
  401: ErrorEnvelope,
  403: ErrorEnvelope,
  404: ErrorEnvelope,
} as const;

export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw unauthorized('no caller');
  return request.caller;
}

export function scopeOf(request: FastifyRequest): OrgScope {
  if (request.orgScope === null) throw unauthorized('no caller');
  return request.orgScope;
}
