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
import { z } from 'zod';
import type { DataStore } from '../ports/data-store.js';
import { OrgRecord } from '../ports/tenancy.js';
import { HttpError, errorAnswer, unauthorized } from './errors.js';
import { createApiMetrics } from './metrics.js';
import { type Caller, type OrgScope, type RequestAuthenticator, resolveOrgScope } from './org-scope.js';
import {
  CreateDatasetRequest,
  DatasetIdParams,
  DatasetRecordSchema,
  ErrorEnvelope,
  datasetToWire,
  envelope,
} from './schemas.js';

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
  orgs: { getOrg(orgId: string): Promise<OrgRecord | undefined> };
  /** `/readyz` probes by name (redis, store): each resolves when that dependency answers. */
  readiness: Record<string, () => Promise<unknown>>;
  logger: Logger;
  limits: ApiLimits;
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
  return { method: request.method, url: request.url, remoteAddress: request.ip, headers };
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
    routerOptions: { ignoreDuplicateSlashes: true },
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

  const errors = { 400: ErrorEnvelope, 401: ErrorEnvelope, 403: ErrorEnvelope, 404: ErrorEnvelope };
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

  /** The caller's org: a dataset of another org answers exactly as a missing one. */
  const ownDataset = async (request: FastifyRequest, datasetId: string) => {
    const record = await store.getDataset(datasetId);
    if (record === undefined || record.org_id !== request.caller?.orgId) {
      throw new HttpError(404, 'RobotoDatasetNotFoundException', `dataset ${datasetId} not found`);
    }
    return record;
  };

  app.get(
    '/v1/datasets/:dataset_id',
    {
      schema: {
        summary: 'Get a dataset (spec D2)',
        params: DatasetIdParams,
        response: { 200: envelope(DatasetRecordSchema), ...errors },
      },
    },
    async (request) => ({ data: datasetToWire(await ownDataset(request, request.params.dataset_id)) }),
  );

  app.post(
    '/v1/datasets',
    {
      schema: {
        summary: 'Create a dataset in the caller org (spec D1)',
        body: CreateDatasetRequest,
        response: { 200: envelope(DatasetRecordSchema), ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      if (body.device_id) {
        throw new HttpError(
          404,
          'RobotoNotFoundException',
          `device ${body.device_id} not found: devices are not kept yet`,
        );
      }
      if (body.custom_fields && Object.keys(body.custom_fields).length > 0) {
        throw new HttpError(400, 'RobotoIllegalArgumentException', 'custom_fields are not kept yet');
      }
      const scope = request.orgScope;
      if (scope === null) throw unauthorized('no caller');
      const record = await store.createDataset({
        orgId: scope.callerOrgId,
        name: body.name ?? null,
        description: body.description ?? null,
        tags: body.tags ?? [],
        metadata: body.metadata ?? {},
      });
      return { data: datasetToWire(record) };
    },
  );

  // Orgs (spec O1, O2). A token belongs to one org: that is the caller's only org, and any other answers
  // 404 as if it did not exist.
  const OrgIdParams = z.object({ org_id: z.string() });
  app.get(
    '/v1/orgs/id/:org_id',
    {
      schema: {
        summary: 'Get an org by id (spec O1)',
        params: OrgIdParams,
        response: { 200: envelope(OrgRecord), ...errors },
      },
    },
    async (request) => {
      const orgId = request.params.org_id;
      const org = orgId === request.caller?.orgId ? await orgs.getOrg(orgId) : undefined;
      if (org === undefined) throw new HttpError(404, 'RobotoNotFoundException', `org ${orgId} not found`);
      return { data: org };
    },
  );

  app.get(
    '/v1/orgs/caller',
    {
      schema: {
        summary: "The caller's orgs (spec O2)",
        response: { 200: envelope(z.array(OrgRecord)), ...errors },
      },
    },
    async (request) => {
      const org = request.caller === null ? undefined : await orgs.getOrg(request.caller.orgId);
      return { data: org === undefined ? [] : [org] };
    },
  );

  return app;
}
