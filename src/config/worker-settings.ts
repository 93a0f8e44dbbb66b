import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseDurationMs } from '../domain/duration.js';
import { UsageError, parseOrThrow } from '../domain/errors.js';
import { parseBoolWord } from '../domain/lax.js';

/**
 * The SDK refuses to start without an API key (spec §1.3), so a placeholder is passed when none is
 * configured; it authorises nothing.
 */
export const PLACEHOLDER_API_KEY = 'action-worker-placeholder-no-api-configured';
/** `.invalid` never resolves (RFC 2606): an action calling the API fails fast instead of reaching a real one. */
export const PLACEHOLDER_SERVICE_ENDPOINT = 'http://roboto-api.invalid';

/** Hosted applies 720 min when neither the invocation nor the action sets a timeout (spec §8.2). */
export const DEFAULT_TIMEOUT_MINUTES = 720;

/**
 * Capabilities action containers keep after `CapDrop: ALL`: Docker's defaults minus the ones an action has
 * no business with (MKNOD, NET_RAW, SYS_CHROOT, AUDIT_WRITE, SETFCAP, SETPCAP). Enough for an image that
 * runs as root (an explicit, unsafe opt-in: `container.user: root`) to manage its own files and processes;
 * `container.capAdd` adds more.
 */
export const DEFAULT_CAPABILITIES = [
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'SETGID',
  'SETUID',
  'NET_BIND_SERVICE',
];

/**
 * The capabilities that let a process change files it does not own (write past the mode bits, chmod,
 * chown, keep setuid bits on write). A non-root action never needs them (a non-root process loses them
 * at its first exec anyway), so they are dropped from its bounding set too: that is the layer that holds
 * even if an image carries file capabilities. Kept only for a root action.
 */
export const ROOT_ONLY_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'];

/** What a non-root action keeps: {@link DEFAULT_CAPABILITIES} without {@link ROOT_ONLY_CAPABILITIES}. */
export const NON_ROOT_CAPABILITIES = DEFAULT_CAPABILITIES.filter(
  (capability) => !ROOT_ONLY_CAPABILITIES.includes(capability),
);

/** The uid:gid actions run as by default when the worker itself is root (the "nonroot" of distroless). */
export const DEFAULT_UNPRIVILEGED_USER = '65532:65532';

const MIB = 1024 * 1024;

export const PullPolicy = z.enum(['always', 'if-not-present', 'never']);
export type PullPolicy = z.infer<typeof PullPolicy>;

export const WorkerSettings = z.object({
  roboto: z
    .object({
      apiKey: z.string().min(1).default(PLACEHOLDER_API_KEY),
      serviceEndpoint: z.url().default(PLACEHOLDER_SERVICE_ENDPOINT),
      /**
       * Each attempt gets its own API token as `ROBOTO_API_KEY` (scoped to its org and invocation, dead once
       * it ends), and `apiKey` is never handed to a container. Off only to point actions at an API that
       * does not know our tokens (the hosted Roboto), with `apiKey` as the shared key.
       */
      invocationTokens: z.boolean().default(true),
      /**
       * `action-worker run` with no `serviceEndpoint` (and invocation tokens on) serves the API itself for
       * the length of the run, over its own store: on 127.0.0.1 with host networking, else on the gateway
       * of the action's network. false: it does not (the action gets the placeholder endpoint).
       */
      localApi: z.boolean().default(true),
    })
    .prefault({}),
  container: z
    .object({
      /** SIGTERM (or the image's STOPSIGNAL) → this long → SIGKILL. */
      stopGraceMs: z.number().int().positive().default(10_000),
      pidsLimit: z.number().int().positive().default(4096),
      /**
       * Who the action runs as. `auto` (the default): `unprivilegedUser` when the worker is root, else the
       * worker's own uid:gid. `worker`: the worker's uid:gid, refused when that is root. `image`: the
       * image's USER, refused when that is root. A numeric `uid[:gid]`. `root` (or `0`, `0:0`): root, an
       * explicit opt-in and UNSAFE — a root action can write and chmod everything it is given, so its
       * inputs are copied instead of hard-linked and it keeps CHOWN, DAC_OVERRIDE, FOWNER and FSETID.
       */
      user: z
        .union([
          z.enum(['auto', 'worker', 'image', 'root']),
          z.string().regex(/^\d+(:\d+)?$/, 'must be auto, worker, image, root, or uid[:gid]'),
        ])
        .default('auto'),
      /** The uid:gid `auto` runs actions as when the worker is root; never 0. */
      unprivilegedUser: z
        .string()
        .regex(/^\d+:\d+$/, 'must be uid:gid')
        .refine((value) => Number(value.split(':')[0]) !== 0, 'must not be root (uid 0)')
        .default(DEFAULT_UNPRIVILEGED_USER),
      /** Docker network mode: `bridge`, `none`, or a network name. */
      networkMode: z.string().min(1).default('bridge'),
      /** A read-only root filesystem, with a tmpfs at /tmp. */
      readOnlyRootfs: z.boolean().default(false),
      tmpfsSizeMiB: z.number().int().positive().default(512),
      /**
       * Capabilities added to the allowlist ({@link NON_ROOT_CAPABILITIES}, or {@link DEFAULT_CAPABILITIES}
       * for a root action), for images that need more. Adding CHOWN, DAC_OVERRIDE, FOWNER, FSETID or
       * SYS_ADMIN makes the worker copy inputs instead of hard-linking them.
       */
      capAdd: z
        .array(z.string().regex(/^[A-Z_]+$/, 'capabilities are upper-case names such as SYS_PTRACE'))
        .default([]),
      /** `auto`: the storage requirement becomes a StorageOpt size where the engine supports it. */
      storageQuota: z.enum(['auto', 'off']).default('auto'),
      /** How often the workspace size is checked against the storage requirement while the action runs. */
      storageCheckIntervalMs: z.number().int().positive().default(15_000),
    })
    .prefault({}),
  images: z
    .object({
      pullPolicy: PullPolicy.default('if-not-present'),
      pullTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(30 * 60_000),
      /** A pull that reports no progress for this long is abandoned. */
      pullNoProgressTimeoutMs: z
        .number()
        .int()
        .positive()
        .default(2 * 60_000),
      /** Directory holding Docker's config.json with registry credentials (Docker's own DOCKER_CONFIG). */
      dockerConfigDir: z.string().default(path.join(os.homedir(), '.docker')),
    })
    .prefault({}),
  logs: z
    .object({
      /** Log bytes kept with the invocation record: the head and the tail, with a truncation marker between. */
      storedBytes: z.number().int().positive().default(MIB),
      /** A longer line is cut into pieces of this size. */
      maxLineBytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024),
      /** The full log file beside the run is cut off at this size. */
      fileBytes: z
        .number()
        .int()
        .positive()
        .default(100 * MIB),
      /** Where full log files go when a run has no output folder. */
      dir: z
        .string()
        .min(1)
        .default(path.join(os.tmpdir(), 'action-worker', 'logs')),
    })
    .prefault({}),
  /** What this host offers actions; an invocation needing more is refused. */
  capacity: z
    .object({
      vcpu: z
        .number()
        .int()
        .positive()
        .default(os.cpus().length * 1024),
      memoryMiB: z
        .number()
        .int()
        .positive()
        .default(Math.floor(os.totalmem() / MIB)),
    })
    .prefault({}),
  workspaceDir: z
    .string()
    .min(1)
    .default(path.join(os.tmpdir(), 'action-worker', 'workspaces')),
  /** The embedded dataset store. */
  storeDir: z
    .string()
    .min(1)
    .default(
      path.join(
        process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'),
        'action-worker',
        'store',
      ),
    ),
  store: z
    .object({
      /**
       * Where the store's metadata (datasets, files, versions, topics) lives: `sqlite:PATH` or a file path
       * (SQLite, for the processes of one host), or `postgres://…` (PostgreSQL, for many hosts; it may hold
       * a password, masked wherever settings are shown). Null: `<storeDir>/metadata.sqlite3`. File contents
       * stay in `storeDir` either way.
       */
      database: z
        .string()
        .min(1)
        .refine(
          (value) => /^postgres(ql)?:\/\//.test(value) || value !== 'sqlite:',
          'must be postgres://…, sqlite:PATH or a file path',
        )
        // A URL of another scheme (a typo, another database) would otherwise be taken for a SQLite path,
        // and its password end up in a directory name.
        .refine(
          (value) => /^(postgres(ql)?:\/\/|sqlite:)/.test(value) || !/^[a-z][a-z\d+.-]*:\/\//i.test(value),
          'must be postgres://…, sqlite:PATH or a file path, not a URL of another kind',
        )
        .nullable()
        .default(null),
    })
    .prefault({}),
  /**
   * Verified copies of input files, content-addressed, hard-linked into workspaces: keep it on the
   * workspaces' filesystem. Least recently used entries go first when it outgrows its budget.
   */
  cache: z
    .object({
      dir: z
        .string()
        .min(1)
        .default(path.join(os.tmpdir(), 'action-worker', 'cache')),
      budgetBytes: z
        .number()
        .int()
        .positive()
        .default(20 * 1024 ** 3),
    })
    .prefault({}),
  /**
   * Where the secrets.json of a running invocation is kept: a directory on a tmpfs (checked before it is
   * used), never on a disk. The file is bind-mounted read-only into the action container by path, so this
   * must be the same path on the engine's side (like workspaceDir); it is deleted when the container exits
   * and, after a crash, by `gc` and the daemon's sweep.
   */
  secretsTmpfsDir: z.string().min(1).default('/dev/shm/action-worker'),
  defaultTimeoutMinutes: z.number().int().positive().default(DEFAULT_TIMEOUT_MINUTES),
  /** The queue, the invocation records and the cancel channel (daemon, invoke, invocations). */
  redis: z
    .object({
      url: z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .default('redis://127.0.0.1:6379'),
      queue: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "_" and "-" only')
        .default('action-worker-invocations'),
      /** Every key (BullMQ's and the invocation records) starts with this. */
      keyPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "_" and "-" only')
        .default('action-worker'),
    })
    .prefault({}),
  daemon: z
    .object({
      /** Invocations run at once, at most; capacity (vCPU, memory) limits them further. */
      concurrency: z.number().int().positive().default(2),
      /** The job lease; it is renewed every third of this. */
      lockDurationMs: z.number().int().min(3_000).default(60_000),
      /** How often a running invocation's record gets a heartbeat and is checked for a cancel request. */
      heartbeatIntervalMs: z.number().int().positive().default(10_000),
      /** On SIGTERM, running invocations get this long to finish before they are handed back. */
      drainWindowMs: z.number().int().nonnegative().default(60_000),
      /** Attempts an invocation gets for infrastructure failures before it is Deadly. */
      maxAttempts: z.number().int().positive().default(3),
      /** The first retry waits this long; each later one twice as long, up to 10 minutes. */
      retryBackoffMs: z.number().int().nonnegative().default(5_000),
      /** How often jobs whose lease ran out are put back in the queue. */
      stalledIntervalMs: z.number().int().positive().default(30_000),
      /** How often leftover containers and workspaces are looked for, besides at start-up. */
      reconcileIntervalMs: z
        .number()
        .int()
        .positive()
        .default(5 * 60_000),
      /** A fetch blocks this long waiting for a job. */
      fetchBlockMs: z.number().int().min(1_000).default(5_000),
      /** Health, readiness and metrics; 0 picks a free port. */
      httpPort: z.number().int().min(0).max(65_535).default(9464),
      /**
       * The address they listen on: loopback by default, so nothing else on the host or its networks (an
       * action on the bridge network, say) can read `/metrics`. In Kubernetes or behind a published port,
       * set 0.0.0.0 (or the pod IP) so the kubelet and Prometheus reach it.
       */
      httpHost: z.string().min(1).default('127.0.0.1'),
    })
    .prefault({}),
  /** `action-worker serve`: the Roboto-compatible HTTP API. */
  api: z
    .object({
      /** Loopback by default; 0.0.0.0 (or the pod IP) to serve other hosts and containers. */
      host: z.string().min(1).default('127.0.0.1'),
      /** 0 picks a free port. */
      port: z.number().int().min(0).max(65_535).default(8080),
      /** A request body larger than this is refused with 413. */
      bodyLimitBytes: z
        .number()
        .int()
        .positive()
        .default(1024 * 1024),
      /** A request not fully received and answered within this is cut off (408). */
      requestTimeoutMs: z.number().int().positive().default(60_000),
      /** An upload's content PUT whose body sends nothing for this long is cut off (408), its bytes dropped. */
      uploadIdleTimeoutMs: z.number().int().positive().default(30_000),
      /** The most bytes one upload transaction may declare (its files summed); a larger begin is 413. */
      uploadMaxTransactionBytes: z
        .number()
        .int()
        .positive()
        .default(100 * 1024 ** 3),
      /** The most upload transactions one org may have pending (neither completed nor expired) at once. */
      uploadMaxPendingPerOrg: z.number().int().positive().default(64),
      /** On SIGTERM/SIGINT: requests in flight get this long to finish before their connections are closed. */
      shutdownGraceMs: z.number().int().nonnegative().default(10_000),
      /**
       * The key of the signed download URLs (`GET /v1/files/{id}/signed-url`); null: a random one per
       * process, so replicas behind one address must share a set one. At least 32 characters.
       */
      signingSecret: z.string().min(32).nullable().default(null),
      /** The API's address as clients reach it, for the signed URLs it hands out; null: the request's Host. */
      publicUrl: z.url().nullable().default(null),
    })
    .prefault({}),
  /** `action-worker serve`'s consumer of trigger events (issue 13). */
  triggers: z
    .object({
      /** Whether this serve process consumes trigger events; off on a replica that should only answer HTTP. */
      enabled: z.boolean().default(true),
      /** Events handled at once by one serve process. */
      concurrency: z.number().int().positive().default(4),
    })
    .prefault({}),
  /** Secret values for `roboto-secret://NAME` references: the file NAME (or ORG/NAME) in this directory. */
  secretsDir: z.string().min(1).nullable().default(null),
});
export type WorkerSettings = z.output<typeof WorkerSettings>;
export type WorkerSettingsInput = z.input<typeof WorkerSettings>;

type Parser = (value: string, name: string) => unknown;
const text: Parser = (value) => value;
const integer: Parser = (value, name) => {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name}="${value}" must be a whole number`);
  return Number(value);
};
const duration: Parser = (value, name) => parseDurationMs(/^\d+$/.test(value) ? `${value}s` : value, name);
const boolean: Parser = (value, name) => {
  const parsed = parseBoolWord(value);
  if (parsed === undefined) throw new UsageError(`${name}="${value}" must be true or false`);
  return parsed;
};
const list: Parser = (value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

/** Environment variable → setting path → parser. Listed in the README and config/worker.env.example. */
const ENVIRONMENT: [names: string[], path: string, parse: Parser][] = [
  [['ACTION_WORKER_API_KEY', 'ROBOTO_API_KEY'], 'roboto.apiKey', text],
  [['ACTION_WORKER_SERVICE_ENDPOINT', 'ROBOTO_SERVICE_ENDPOINT'], 'roboto.serviceEndpoint', text],
  [['ACTION_WORKER_INVOCATION_TOKENS'], 'roboto.invocationTokens', boolean],
  [['ACTION_WORKER_LOCAL_API'], 'roboto.localApi', boolean],
  [['ACTION_WORKER_STOP_GRACE'], 'container.stopGraceMs', duration],
  [['ACTION_WORKER_PIDS_LIMIT'], 'container.pidsLimit', integer],
  [['ACTION_WORKER_CONTAINER_USER'], 'container.user', text],
  [['ACTION_WORKER_UNPRIVILEGED_USER'], 'container.unprivilegedUser', text],
  [['ACTION_WORKER_NETWORK'], 'container.networkMode', text],
  [['ACTION_WORKER_READ_ONLY_ROOTFS'], 'container.readOnlyRootfs', boolean],
  [['ACTION_WORKER_TMPFS_SIZE_MIB'], 'container.tmpfsSizeMiB', integer],
  [['ACTION_WORKER_CAP_ADD'], 'container.capAdd', list],
  [['ACTION_WORKER_STORAGE_QUOTA'], 'container.storageQuota', text],
  [['ACTION_WORKER_STORAGE_CHECK_INTERVAL'], 'container.storageCheckIntervalMs', duration],
  [['ACTION_WORKER_PULL_POLICY'], 'images.pullPolicy', text],
  [['ACTION_WORKER_PULL_TIMEOUT'], 'images.pullTimeoutMs', duration],
  [['ACTION_WORKER_PULL_NO_PROGRESS_TIMEOUT'], 'images.pullNoProgressTimeoutMs', duration],
  [['DOCKER_CONFIG'], 'images.dockerConfigDir', text],
  [['ACTION_WORKER_LOG_STORED_BYTES'], 'logs.storedBytes', integer],
  [['ACTION_WORKER_LOG_MAX_LINE_BYTES'], 'logs.maxLineBytes', integer],
  [['ACTION_WORKER_LOG_FILE_BYTES'], 'logs.fileBytes', integer],
  [['ACTION_WORKER_LOG_DIR'], 'logs.dir', text],
  [['ACTION_WORKER_CAPACITY_VCPU'], 'capacity.vcpu', integer],
  [['ACTION_WORKER_CAPACITY_MEMORY_MIB'], 'capacity.memoryMiB', integer],
  [['ACTION_WORKER_WORKSPACE_DIR'], 'workspaceDir', text],
  [['ACTION_WORKER_STORE_DIR'], 'storeDir', text],
  [['ACTION_WORKER_STORE_DATABASE'], 'store.database', text],
  [['ACTION_WORKER_CACHE_DIR'], 'cache.dir', text],
  [['ACTION_WORKER_CACHE_BYTES'], 'cache.budgetBytes', integer],
  [['ACTION_WORKER_SECRETS_TMPFS_DIR'], 'secretsTmpfsDir', text],
  [['ACTION_WORKER_DEFAULT_TIMEOUT_MINUTES'], 'defaultTimeoutMinutes', integer],
  [['ACTION_WORKER_REDIS_URL'], 'redis.url', text],
  [['ACTION_WORKER_QUEUE'], 'redis.queue', text],
  [['ACTION_WORKER_KEY_PREFIX'], 'redis.keyPrefix', text],
  [['ACTION_WORKER_CONCURRENCY'], 'daemon.concurrency', integer],
  [['ACTION_WORKER_LOCK_DURATION'], 'daemon.lockDurationMs', duration],
  [['ACTION_WORKER_HEARTBEAT_INTERVAL'], 'daemon.heartbeatIntervalMs', duration],
  [['ACTION_WORKER_DRAIN_WINDOW'], 'daemon.drainWindowMs', duration],
  [['ACTION_WORKER_MAX_ATTEMPTS'], 'daemon.maxAttempts', integer],
  [['ACTION_WORKER_RETRY_BACKOFF'], 'daemon.retryBackoffMs', duration],
  [['ACTION_WORKER_STALLED_INTERVAL'], 'daemon.stalledIntervalMs', duration],
  [['ACTION_WORKER_RECONCILE_INTERVAL'], 'daemon.reconcileIntervalMs', duration],
  [['ACTION_WORKER_FETCH_BLOCK'], 'daemon.fetchBlockMs', duration],
  [['ACTION_WORKER_HTTP_PORT'], 'daemon.httpPort', integer],
  [['ACTION_WORKER_HTTP_HOST'], 'daemon.httpHost', text],
  [['ACTION_WORKER_API_HOST'], 'api.host', text],
  [['ACTION_WORKER_API_PORT'], 'api.port', integer],
  [['ACTION_WORKER_API_BODY_LIMIT_BYTES'], 'api.bodyLimitBytes', integer],
  [['ACTION_WORKER_API_REQUEST_TIMEOUT'], 'api.requestTimeoutMs', duration],
  [['ACTION_WORKER_API_UPLOAD_IDLE_TIMEOUT'], 'api.uploadIdleTimeoutMs', duration],
  [['ACTION_WORKER_API_UPLOAD_MAX_TRANSACTION_BYTES'], 'api.uploadMaxTransactionBytes', integer],
  [['ACTION_WORKER_API_UPLOAD_MAX_PENDING_PER_ORG'], 'api.uploadMaxPendingPerOrg', integer],
  [['ACTION_WORKER_API_SHUTDOWN_GRACE'], 'api.shutdownGraceMs', duration],
  [['ACTION_WORKER_API_SIGNING_SECRET'], 'api.signingSecret', text],
  [['ACTION_WORKER_API_PUBLIC_URL'], 'api.publicUrl', text],
  [['ACTION_WORKER_TRIGGERS_ENABLED'], 'triggers.enabled', boolean],
  [['ACTION_WORKER_TRIGGERS_CONCURRENCY'], 'triggers.concurrency', integer],
  [['ACTION_WORKER_SECRETS_DIR'], 'secretsDir', text],
];

/** The setting paths each environment variable sets, for messages and docs. */
export const ENVIRONMENT_VARIABLES: ReadonlyMap<string, string> = new Map(
  ENVIRONMENT.flatMap(([names, settingPath]) => names.map((name) => [name, settingPath] as const)),
);

/**
 * The settings the environment sets, as a partial input (each variable is optional; see
 * {@link ENVIRONMENT}), with the variable behind each setting path.
 */
export function environmentOverrides(env: NodeJS.ProcessEnv): {
  input: Record<string, unknown>;
  sources: Map<string, string>;
} {
  const input: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const [names, settingPath, parse] of ENVIRONMENT) {
    const name = names.find((candidate) => env[candidate] !== undefined && env[candidate] !== '');
    if (name === undefined) continue;
    const value = parse(env[name] ?? '', name);
    const [group, key] = settingPath.split('.');
    if (key === undefined) input[group ?? settingPath] = value;
    else ((input[group ?? ''] ??= {}) as Record<string, unknown>)[key] = value;
    sources.set(settingPath, name);
  }
  return { input, sources };
}

/** Settings from the environment alone (no configuration file). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): WorkerSettings {
  return parseOrThrow(WorkerSettings, environmentOverrides(env).input, 'worker settings (environment)');
}
