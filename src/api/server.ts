import fastifySwagger from '@fastify/swagger';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import {
  type ZodTypeProvider,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { ChangeNotifier } from '../ports/trigger-events.js';
import type { ActionStore } from '../ports/action-store.js';
import type { DataStore } from '../ports/data-store.js';
import { HttpError, errorAnswer, unauthorized } from './errors.js';
import { createApiMetrics } from './metrics.js';
import { type Caller, type OrgScope, type RequestAuthenticator, resolveOrgScope } from './org-scope.js';
import { actionRoutes } from './routes/actions.js';
import { type TriggerRouteOptions, triggerRoutes } from './routes/triggers.js';
import { datasetRoutes } from './routes/datasets.js';
import { type InvocationRouteOptions, invocationRoutes } from './routes/invocations.js';
import { fileRoutes } from './routes/files.js';
import { topicRoutes } from './routes/topics.js';
import { fileContentRoutes } from './routes/file-content.js';
import { searchRoutes } from './routes/search.js';
import { UrlSigner } from './signed-urls.js';
import { type OrgSource, orgRoutes } from './routes/orgs.js';
import { type UploadRouteOptions, uploadRoutes } from './routes/uploads.js';

export interface ApiLimits {
  /** Largest request body accepted; a larger one is answered 413. */
  bodyLimitBytes: number;
  /** A request not received and answered within this is cut off with 408 (Node's requestTimeout). */
  requestTimeoutMs: number;
}

export interface ApiServerDependencies {
  store: DataStore;
  authenticator: RequestAuthenticator;
  /** The orgs (the tenancy store's): read for `GET /v1/orgs/…`. */
  orgs: OrgSource;
  /** Registered actions, every version (spec §3.1 A1–A7); without it (`run`'s own API) no action routes. */
  actions?: ActionStore;
  /** Triggers (spec §3.3 T1–T7); without it no trigger routes. */
  triggers?: TriggerRouteOptions;
  /** Invocations (spec I1–I9) and invoking actions by name (A8); without it no invocation routes. */
  invocations?: InvocationRouteOptions;
  /** `/readyz` probes by name (redis, store): each resolves when that dependency answers. */
  readiness: Record<string, () => Promise<unknown>>;
  logger: Logger;
  limits: ApiLimits;
  /**
   * Told after every change made with an announcement (the store wrote its event into the outbox); with
   * it the routes announce their changes (issue 13), without it they announce nothing (`run`'s own API).
   */
  changes?: ChangeNotifier;
  /** Metrics of other parts of the process (the trigger event consumer) to serve on `/metrics` too. */
  registerMetrics?: (registry: Registry) => void;
  /** API upload transactions (spec §11.2) and where their bytes are staged; without it no upload routes. */
  uploads?: UploadRouteOptions;
  /** Signed download URLs (spec F4): the key and the address they name; by default a per-process key. */
  signing?: { signer: UrlSigner; publicUrl: string | null };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the bearer token is: set on every /v1 request by the authentication hook. */
    caller: Caller | null;
    orgScope: OrgScope | null;
  }
}

const READY_CHECK_TIMEOUT_MS = 2_000;
const SECRET_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization', 'x-roboto-bearer-token']);

/** The request as logged: its headers too (the SDK's X-Roboto-Requester says who calls), never a credential. */
export function requestForLog(request: FastifyRequest): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    headers[name] = SECRET_HEADERS.has(name.toLowerCase()) ? '[Redacted]' : value;
  }
  // A signed download URL's signature is a credential for as long as it lasts: not in the logs either.
  const url = request.url.replace(/([?&]signature=)[^&#]*/g, '$1[Redacted]');
  return { method: request.method, url, remoteAddress: request.ip, headers };
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * A /v1 request: by the route it matched (whatever spelling of the URL led there: `//v1/…`, escapes) or,
 * for a request that matched none, by its URL.
 */
function underV1(request: FastifyRequest): boolean {
  return request.routeOptions.url?.startsWith('/v1/') ?? /^\/+v1(\/|$|\?)/.test(request.url);
}

/** Routes that change what an org runs: registered actions, triggers, every active invocation at once. */
const ORG_CONTROL_ROUTES = new Set([
  'POST /v1/actions',
  'PUT /v1/actions/:name',
  'DELETE /v1/actions/:name',
  'PUT /v1/actions/:name/accessibility',
  'POST /v1/actions/invocations/cancel/all',
]);
const INVOCATION_WRITE = /^\/v1\/actions\/invocations\/:invocation_id\//;

/**
 * What an action's own token (scoped to its invocation) may not do, though its org's tokens may: change the
 * org's registered actions or triggers, cancel everything, or write to (status, cancel, container info,
 * logs location) an invocation other than its own. It reads and writes the org's data as the SDK does at
 * runtime, and may invoke actions. Refused with 403, whatever the route would answer.
 */
function refuseBeyondInvocation(request: FastifyRequest, invocationId: string): void {
  const route = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
  const method = request.method;
  const key = `${method} ${route}`;
  const writes = method !== 'GET' && method !== 'HEAD';
  let refused = ORG_CONTROL_ROUTES.has(key) || (writes && route.startsWith('/v1/triggers'));
  if (!refused && writes && INVOCATION_WRITE.test(route)) {
    const target = (request.params as { invocation_id?: string } | undefined)?.invocation_id;
    refused = target !== invocationId;
  }
  if (refused) {
    throw new HttpError(
      403,
      'RobotoUnauthorizedException',
      `an invocation's token may not ${method} ${route}: use an API token of the org`,
    );
  }
}

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check().then(() => 'ok'),
      new Promise<string>((resolve) => {
        timer = setTimeout(() => {
          resolve(`no answer within ${READY_CHECK_TIMEOUT_MS} ms`);
        }, READY_CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The API as a Fastify instance, not listening yet: zod schemas validate every request and generate
 * `/openapi.json`; every answer is `{"data": …}` or the error envelope; /v1 requires a bearer token.
 */
export async function buildApiServer(deps: ApiServerDependencies): Promise<FastifyInstance> {
  const { store, authenticator, orgs, limits } = deps;
  const metrics = createApiMetrics();
  deps.registerMetrics?.(metrics.registry);
  // Typed as Fastify's logger so the instance keeps Fastify's default types.
  const logger: FastifyBaseLogger = deps.logger.child(
    { component: 'api' },
    { serializers: { req: requestForLog } },
  );
  const app = Fastify({
    loggerInstance: logger,
    // Our own line per request (api.request, below), with the credentials taken out of its headers.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    // The SDK sends `Connection: close`; other clients may keep connections, which a shutdown must not wait on.
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Query ids carry their query (routes/search.ts): longer than the router's default of 100 characters.
    routerOptions: { ignoreDuplicateSlashes: true, maxParamLength: 8192 },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // JSON only (spec §1.3): any other body is 415, not a string handed to a schema.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('caller', null);
  app.decorateRequest('orgScope', null);

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'action-worker API',
        description:
          'A self-hosted Roboto-compatible API (see docs/operations.md). Every success is {"data": …}; ' +
          'every error {"error": {"error_code", "message"}}. /v1 routes need Authorization: Bearer <token>.',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((error, request, reply) => {
    const { status, body, internal } = errorAnswer(error);
    if (internal) request.log.error({ err: error, req: request }, 'api.request_failed');
    return reply.code(status).type('application/json').send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        error_code: 'RobotoNotFoundException',
        message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
      },
    }),
  );

  app.addHook('onRequest', async (request) => {
    if (!underV1(request)) return;
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw unauthorized('Authorization: Bearer <token> is required');
    const caller = await authenticator.authenticate(token);
    if (caller === undefined) throw unauthorized('the bearer token is not valid');
    request.caller = caller;
    if (caller.invocationId !== undefined) refuseBeyondInvocation(request, caller.invocationId);
    request.orgScope = resolveOrgScope(
      {
        'x-roboto-org-id': request.headers['x-roboto-org-id'],
        'x-roboto-resource-owner-id': request.headers['x-roboto-resource-owner-id'],
      },
      [caller.orgId],
    );
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.observe({ route, method: request.method, status: reply.statusCode }, seconds);
    request.log.info(
      {
        req: request,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        tokenId: request.caller?.tokenId,
      },
      'api.request',
    );
  });

  // Query strings: a /v1 route that declares none takes none (a typo'd parameter is an error, not ignored).
  app.addHook('preValidation', (request, _reply, done) => {
    const query = request.query as Record<string, unknown>;
    if (request.routeOptions.schema?.querystring === undefined && underV1(request)) {
      const names = Object.keys(query);
      if (names.length > 0) {
        done(
          new HttpError(
            400,
            'RobotoInvalidRequestException',
            `querystring: unknown parameter ${names.join(', ')}`,
          ),
        );
        return;
      }
    }
    done();
  });

  const hidden = { hide: true } as const;

  app.get('/healthz', { schema: { ...hidden } }, () => Promise.resolve({ status: 'ok' }));
  app.get('/readyz', { schema: { ...hidden } }, async (_request, reply) => {
    const names = Object.keys(deps.readiness);
    const results = await Promise.all(
      names.map((name) => probe(deps.readiness[name] as () => Promise<unknown>)),
    );
    const checks = Object.fromEntries(names.map((name, index) => [name, results[index]]));
    const ready = results.every((result) => result === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', ...checks });
  });
  app.get('/metrics', { schema: { ...hidden } }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  app.get('/openapi.json', { schema: { ...hidden } }, () => Promise.resolve(app.swagger()));

  // Route modules, one per resource family (routes/*.ts), each given only what it uses.
  await app.register(datasetRoutes, { store, changes: deps.changes });
  await app.register(orgRoutes, { orgs });
  if (deps.actions) await app.register(actionRoutes, { actions: deps.actions });
  if (deps.invocations) await app.register(invocationRoutes, deps.invocations);
  if (deps.triggers) await app.register(triggerRoutes, deps.triggers);
  await app.register(fileRoutes, { store, changes: deps.changes });
  await app.register(topicRoutes, { store });
  // One key for signed download URLs and sealed query ids.
  const signer = deps.signing?.signer ?? new UrlSigner();
  await app.register(fileContentRoutes, { store, signer, publicUrl: deps.signing?.publicUrl ?? null });
  await app.register(searchRoutes, { store, signer });
  if (deps.uploads) {
    await app.register(uploadRoutes, {
      store,
      changes: deps.changes,
      publicUrl: deps.signing?.publicUrl ?? null,
      ...deps.uploads,
    });
  }

  return app;
}
