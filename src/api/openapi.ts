import { pino } from 'pino';
import type { ActionStore } from '../ports/action-store.js';
import type { DataStore } from '../ports/data-store.js';
import { buildApiServer } from './server.js';

/** Where the document is checked in, from the repository root. */
export const OPENAPI_PATH = 'docs/openapi.json';

/**
 * The OpenAPI document, generated from the routes' zod schemas: what `/openapi.json` serves and
 * docs/openapi.json holds (`npm run openapi` rewrites it; a unit test fails while it is stale). Built on a
 * server that is never started, whose store and authenticator are never called.
 */
export async function openApiDocument(): Promise<unknown> {
  const unused = (): never => {
    throw new Error('the OpenAPI document is generated without a store');
  };
  const store = new Proxy({}, { get: () => unused }) as DataStore;
  const app = await buildApiServer({
    store,
    authenticator: { authenticate: unused },
    orgs: { getOrg: unused },
    actions: new Proxy({}, { get: () => unused }) as ActionStore,
    invocations: {
      invocations: new Proxy({}, { get: () => unused }) as never,
      control: { submit: unused, cancel: unused },
      actions: { getAction: unused },
      datasetExists: unused,
      defaultTimeoutMinutes: 1,
    },
    triggers: {
      triggers: new Proxy({}, { get: () => unused }) as never,
      actions: { getAction: unused },
      datasetExists: unused,
    },
    uploads: { transactions: new Proxy({}, { get: () => unused }) as never, stagingDir: '/nonexistent' },
    readiness: {},
    logger: pino({ level: 'silent' }),
    limits: { bodyLimitBytes: 1, requestTimeoutMs: 1 },
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
  }
}
