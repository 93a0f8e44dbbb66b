import type { AddressInfo } from 'node:net';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { z } from 'zod';
import { HttpError } from '../api/errors.js';
import { ERROR_RESPONSES, callerOf } from '../api/routes/route-kit.js';
import { envelope } from '../api/schemas.js';
import { buildApiServer } from '../api/server.js';
import type { RequestAuthenticator } from '../api/org-scope.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { DataStore } from '../ports/data-store.js';
import type { OrgRecord } from '../ports/tenancy.js';
import { InvocationStatus, type StatusRecord } from '../domain/invocation-status.js';
import { InvocationRecordWire, type StoredInvocation, invocationToWire } from '../domain/invocation-wire.js';
import type { InvocationRequest } from '../domain/invocation-request.js';

/** The API `action-worker run` serves its action for the length of the run. */
export interface LocalApi {
  /** `http://host:port`: the action's ROBOTO_SERVICE_ENDPOINT. */
  url: string;
  close(): Promise<void>;
}

/**
 * Where the run's API listens so that the action container, and nothing further, can reach it: with host
 * networking the container shares the host's loopback, so 127.0.0.1; on a bridge (`bridge` or a named
 * network) the host is the network's gateway address, which only the host and that network's containers
 * can reach (loopback is the container's own there); with no network (`none`, `container:…`) there is
 * nothing to listen for (undefined).
 */
export async function localApiHost(
  networkMode: string,
  runtime: Pick<ContainerRuntime, 'networkGateway'>,
): Promise<string | undefined> {
  if (networkMode === 'host') return '127.0.0.1';
  if (networkMode === 'none' || networkMode.startsWith('container:')) return undefined;
  return runtime.networkGateway(networkMode);
}

/**
 * The record of `run`'s one invocation as it happens, read by the SDK's `context.invocation` (I1): made
 * from the request the run planned and the statuses its pipeline records, kept in memory only.
 */
export class LocalInvocationView {
  private readonly history: StatusRecord[];

  constructor(
    private readonly invocationId: string,
    private readonly request: InvocationRequest,
    private readonly created = new Date().toISOString(),
  ) {
    this.history = [{ status: InvocationStatus.Queued, detail: null, timestamp: created }];
  }

  /** A status as the run's pipeline records it. */
  record(status: InvocationStatus, detail: string | null): void {
    this.history.push({ status, detail, timestamp: new Date().toISOString() });
  }

  /** The run's invocation when `invocationId` names it, else undefined. */
  get(invocationId: string): StoredInvocation | undefined {
    if (invocationId !== this.invocationId) return undefined;
    return {
      invocation_id: this.invocationId,
      org_id: this.request.org_id,
      created: this.created,
      request: this.request,
      last_status: this.history.at(-1)?.status ?? InvocationStatus.Queued,
      status: [...this.history],
      last_heartbeat: null,
      image: null,
    };
  }
}

/** I1 over the run's one invocation: any other id, or another org's caller, is not found. */
const localInvocationRoute: FastifyPluginAsyncZod<{
  view: LocalInvocationView;
  defaultTimeoutMinutes: number;
}> = async (app, { view, defaultTimeoutMinutes }) => {
  app.get(
    '/v1/actions/invocations/:invocation_id',
    {
      schema: {
        summary: "Get the run's invocation (spec I1)",
        params: z.object({ invocation_id: z.string().min(1).max(200) }),
        response: { 200: envelope(InvocationRecordWire), ...ERROR_RESPONSES },
      },
    },
    (request) => {
      const { invocation_id: invocationId } = request.params;
      const record = view.get(invocationId);
      if (record === undefined || record.org_id !== callerOf(request).orgId) {
        throw new HttpError(404, 'RobotoNotFoundException', `invocation ${invocationId} not found`);
      }
      return Promise.resolve({ data: invocationToWire(record, { defaultTimeoutMinutes }) });
    },
  );
  return Promise.resolve();
};

/**
 * The API over the run's own data store (the one the run reads its inputs from and writes its outputs
 * to), on an ephemeral port of `host`, answering only `authenticator`'s token (the run's invocation token)
 * and knowing one org, the run's.
 */
export async function startLocalApi(options: {
  store: DataStore;
  orgId: string;
  host: string;
  authenticator: RequestAuthenticator;
  settings: WorkerSettings;
  logger: Logger;
  /** The run's invocation, answered by I1; without it no invocation route. */
  invocation?: LocalInvocationView;
}): Promise<LocalApi> {
  const { orgId, logger } = options;
  const org: OrgRecord = {
    org_id: orgId,
    name: orgId,
    tier: 'premium',
    status: 'active',
    created: new Date().toISOString(),
    created_by: null,
  };
  const app = await buildApiServer({
    store: options.store,
    authenticator: options.authenticator,
    orgs: { getOrg: (id) => Promise.resolve(id === orgId ? { ...org } : undefined) },
    readiness: {},
    logger,
    limits: {
      bodyLimitBytes: options.settings.api.bodyLimitBytes,
      requestTimeoutMs: options.settings.api.requestTimeoutMs,
    },
  });
  if (options.invocation !== undefined) {
    await app.register(localInvocationRoute, {
      view: options.invocation,
      defaultTimeoutMinutes: options.settings.defaultTimeoutMinutes,
    });
  }
  await app.listen({ host: options.host, port: 0 });
  const { address, port } = app.server.address() as AddressInfo;
  const url = `http://${address}:${port}`;
  logger.info({ url }, 'run.api_listening');
  return {
    url,
    close: async () => {
      // The action is gone: nothing in flight is worth waiting for.
      app.server.closeAllConnections();
      await app.close();
      logger.info('run.api_stopped');
    },
  };
}
