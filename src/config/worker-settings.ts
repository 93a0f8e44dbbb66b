import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseDurationMs } from '../domain/duration.js';
import { parseOrThrow } from '../domain/errors.js';

/**
 * The SDK refuses to start without an API key (spec §1.3), so a placeholder is passed when none is
 * configured; it authorises nothing.
 */
export const PLACEHOLDER_API_KEY = 'action-worker-placeholder-no-api-configured';
/** `.invalid` never resolves (RFC 2606): an action calling the API fails fast instead of reaching a real one. */
export const PLACEHOLDER_SERVICE_ENDPOINT = 'http://roboto-api.invalid';

/** Hosted applies 720 min when neither the invocation nor the action sets a timeout (spec §8.2). */
export const DEFAULT_TIMEOUT_MINUTES = 720;

export const WorkerSettings = z.object({
  roboto: z.object({
    apiKey: z.string().min(1).default(PLACEHOLDER_API_KEY),
    serviceEndpoint: z.url().default(PLACEHOLDER_SERVICE_ENDPOINT),
  }),
  container: z.object({
    /** SIGTERM → this long → SIGKILL. */
    stopGraceMs: z.number().int().positive().default(10_000),
    pidsLimit: z.number().int().positive().default(4096),
    /** `uid:gid` actions run as; by default the worker's own, so workspace files stay the worker's. */
    user: z
      .string()
      .regex(/^\d+(:\d+)?$/, 'must be uid or uid:gid')
      .nullable()
      .default(null),
  }),
  workspaceDir: z
    .string()
    .min(1)
    .default(path.join(os.tmpdir(), 'action-worker', 'workspaces')),
  defaultTimeoutMinutes: z.number().int().positive().default(DEFAULT_TIMEOUT_MINUTES),
});
export type WorkerSettings = z.output<typeof WorkerSettings>;

/**
 * Settings from the environment: ACTION_WORKER_API_KEY (else ROBOTO_API_KEY),
 * ACTION_WORKER_SERVICE_ENDPOINT (else ROBOTO_SERVICE_ENDPOINT), ACTION_WORKER_STOP_GRACE (a duration),
 * ACTION_WORKER_PIDS_LIMIT, ACTION_WORKER_CONTAINER_USER, ACTION_WORKER_WORKSPACE_DIR.
 */
export function settingsFromEnv(env: NodeJS.ProcessEnv): WorkerSettings {
  const nonEmpty = (...names: string[]): string | undefined =>
    names.map((name) => env[name]).find((value) => value !== undefined && value !== '');
  const stopGrace = nonEmpty('ACTION_WORKER_STOP_GRACE');
  const pidsLimit = nonEmpty('ACTION_WORKER_PIDS_LIMIT');
  return parseOrThrow(
    WorkerSettings,
    {
      roboto: {
        apiKey: nonEmpty('ACTION_WORKER_API_KEY', 'ROBOTO_API_KEY'),
        serviceEndpoint: nonEmpty('ACTION_WORKER_SERVICE_ENDPOINT', 'ROBOTO_SERVICE_ENDPOINT'),
      },
      container: {
        stopGraceMs:
          stopGrace === undefined
            ? undefined
            : parseDurationMs(
                /^\d+$/.test(stopGrace) ? `${stopGrace}s` : stopGrace,
                'ACTION_WORKER_STOP_GRACE',
              ),
        pidsLimit: pidsLimit === undefined ? undefined : Number(pidsLimit),
        user: nonEmpty('ACTION_WORKER_CONTAINER_USER') ?? null,
      },
      workspaceDir: nonEmpty('ACTION_WORKER_WORKSPACE_DIR'),
    },
    'worker settings (environment)',
  );
}
