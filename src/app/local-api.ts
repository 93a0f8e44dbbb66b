import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { buildApiServer } from '../api/server.js';
import type { RequestAuthenticator } from '../api/org-scope.js';
import type { WorkerSettings } from '../config/worker-settings.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import type { DataStore } from '../ports/data-store.js';
import type { OrgRecord } from '../ports/tenancy.js';

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
