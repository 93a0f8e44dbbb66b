import type { FastifyRequest } from 'fastify';
import type { ChangeAnnouncement } from '../ports/data-store.js';

/**
 * A route's announcement of the change it makes (issue 13): a fresh event id; the lineage of an action's own
 * token (its invocation), so that what a triggered action changes through the API never fires its trigger
 * again.
 */
export function announcementBy(request: FastifyRequest): ChangeAnnouncement {
  return { sourceInvocationId: request.caller?.invocationId ?? null };
}
