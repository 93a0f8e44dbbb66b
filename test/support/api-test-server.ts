import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { type Logger, pino } from 'pino';
import type { Caller, RequestAuthenticator } from '../../src/api/org-scope.js';
import { type RunningApi, serveApi, startApiServer } from '../../src/app/api-server.js';
import { openTenancyStore } from '../../src/app/tenancy.js';
import { WorkerSettings, type WorkerSettingsInput } from '../../src/config/worker-settings.js';
import { TEST_REDIS_URL, deleteKeysUnder, testKeyPrefix } from './redis-stores.js';
import { tempDir } from './temp-dirs.js';

/** An org and one API token of it, made as `orgs create` / `tokens create` make them. */
export interface TestOrg {
  orgId: string;
  token: string;
  tokenId: string;
}

/**
 * The authentication seam's test double, for tests of other things than tokens: fixed tokens of fixed
 * callers, in a Map; `asked` tells which tokens were presented, so a test knows a request arrived.
 */
export class MapAuthenticator implements RequestAuthenticator {
  readonly asked: string[] = [];
  constructor(private readonly tokens: Map<string, Caller>) {}
  authenticate(token: string): Promise<Caller | undefined> {
    this.asked.push(token);
    return Promise.resolve(this.tokens.get(token));
  }
}

/** What a test asks of the server beyond the defaults (a silent logger, the orgs' tokens in Redis). */
type ServerOptions = Omit<Parameters<typeof startApiServer>[1], 'logger'> & { logger?: Logger };

export interface ApiTestServerOptions {
  /** Names the key prefix and the store directory. */
  name: string;
  /** Settings beside the defaults: merged into them (`redis` and `api` key by key). */
  settings?: Omit<WorkerSettingsInput, 'redis' | 'api'> & {
    redis?: Partial<NonNullable<WorkerSettingsInput['redis']>>;
    api?: Partial<NonNullable<WorkerSettingsInput['api']>>;
  };
  /** Orgs to make before the server starts, each with a token (named `test` unless told). */
  orgs?: readonly (string | { name: string; tokenName: string })[];
  /** Run it as `serve` runs it (the signal ladder) rather than the bare server; `stop` sends SIGTERM. */
  serve?: boolean;
  /** Passed to the server. */
  server?: ServerOptions;
  /** Delete the Redis keys under the prefix on close (off where another owner deletes them). */
  deleteKeys?: boolean;
}

export interface ApiAnswer {
  status: number;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

export interface ApiTestServer {
  api: RunningApi;
  settings: WorkerSettings;
  /** The orgs made, in the order named. */
  orgs: TestOrg[];
  /** With `serve`: the signal source and what `serveApi` returned. */
  signals: EventEmitter;
  served: Promise<void> | undefined;
  /** The tenancy store of the server's Redis, opened on first use and closed by `close`. */
  tenancy(): ReturnType<typeof openTenancyStore>;
  /**
   * A request over the socket: `token` as the bearer (none when null), a JSON body (a string is sent as it
   * is), GET without a body and POST with one unless `method` says otherwise.
   */
  request(
    path: string,
    init?: {
      method?: string;
      token?: string | null;
      body?: unknown;
      headers?: Record<string, string>;
    },
  ): Promise<ApiAnswer>;
  /** Stops the server, closes what it opened, deletes its Redis keys and its store directory. */
  close(options?: { force?: boolean }): Promise<void>;
}

/**
 * A real API server for a test file: listening on 127.0.0.1 (any free port), on the real Redis under a key
 * prefix of its own, with a store directory of its own, and (when asked) orgs with real tokens.
 */
export async function apiTestServer(options: ApiTestServerOptions): Promise<ApiTestServer> {
  const { redis, api: apiSettings, ...rest } = options.settings ?? {};
  const ownStoreDir = rest.storeDir === undefined ? await tempDir(`${options.name}-store`) : undefined;
  const settings = WorkerSettings.parse({
    ...rest,
    storeDir: rest.storeDir ?? ownStoreDir,
    redis: { url: TEST_REDIS_URL, keyPrefix: testKeyPrefix(options.name), ...redis },
    api: { host: '127.0.0.1', port: 0, ...apiSettings },
  });
  let tenancy: ReturnType<typeof openTenancyStore> | undefined;
  const openTenancy = () => (tenancy ??= openTenancyStore(settings));
  const orgs: TestOrg[] = [];
  for (const each of options.orgs ?? []) {
    const { name, tokenName } = typeof each === 'string' ? { name: each, tokenName: 'test' } : each;
    const org = await openTenancy().createOrg({ name });
    const { record, token } = await openTenancy().createToken({ orgId: org.org_id, name: tokenName });
    orgs.push({ orgId: org.org_id, token, tokenId: record.token_id });
  }
  const serverOptions = { logger: pino({ level: 'silent' }), ...options.server };
  const signals = new EventEmitter();
  let served: Promise<void> | undefined;
  let api: RunningApi;
  if (options.serve) {
    let listening: (running: RunningApi) => void = () => undefined;
    const started = new Promise<RunningApi>((resolve) => {
      listening = resolve;
    });
    served = serveApi(settings, {
      ...serverOptions,
      signals,
      exit: () => {
        throw new Error('a third signal');
      },
      onListening: listening,
    });
    api = await Promise.race([started, served.then(() => Promise.reject(new Error('serve ended early')))]);
  } else {
    api = await startApiServer(settings, serverOptions);
  }

  return {
    api,
    settings,
    orgs,
    signals,
    served,
    tenancy: openTenancy,
    async request(path, init = {}) {
      const headers: Record<string, string> = { ...init.headers };
      const token = init.token === undefined ? orgs[0]?.token : init.token;
      if (token !== null && token !== undefined) headers.authorization = `Bearer ${token}`;
      const body =
        init.body === undefined || typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const response = await fetch(`${api.url}${path}`, {
        method: init.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, text, json };
    },
    async close(closeOptions = {}) {
      try {
        if (served === undefined) await api.stop(closeOptions);
        else {
          signals.emit('SIGTERM', 'SIGTERM');
          if (closeOptions.force) signals.emit('SIGTERM', 'SIGTERM');
          await served;
        }
      } finally {
        await tenancy?.close();
        if (options.deleteKeys ?? true) await deleteKeysUnder(settings.redis.url, settings.redis.keyPrefix);
        if (ownStoreDir !== undefined) await rm(ownStoreDir, { recursive: true, force: true });
      }
    },
  };
}
