import { type ApiTestServer, type ApiTestServerOptions, apiTestServer } from './api-test-server.js';
import { type DaemonProcess, TestQueue } from './daemon-harness.js';
import { removeTempDirs } from './temp-dirs.js';

export interface ServeWithDaemon {
  queue: TestQueue;
  daemon: DaemonProcess;
  server: ApiTestServer;
  /** Stops serve, then the daemons (deleting the queue's keys), then removes the temporary directories. */
  close(): Promise<void>;
}

/**
 * {@link apiTestServer} on a {@link TestQueue}'s Redis prefix, queue and store, where the CLI and daemons of
 * the queue work; the queue's cleanup deletes the keys (once its daemons are stopped), not the server's.
 */
export async function apiTestServerOn(
  queue: TestQueue,
  options: Omit<ApiTestServerOptions, 'settings' | 'deleteKeys'>,
): Promise<ApiTestServer> {
  const { url, keyPrefix, queue: queueName } = queue.location();
  return await apiTestServer({
    ...options,
    settings: { storeDir: queue.env.ACTION_WORKER_STORE_DIR, redis: { url, keyPrefix, queue: queueName } },
    deleteKeys: false,
  });
}

/**
 * `serve` and a daemon on one private Redis prefix, queue and store (a {@link TestQueue}'s), the daemon
 * started and ready; serve's orgs and options as {@link apiTestServer} takes them.
 */
export async function serveWithDaemon(
  options: Omit<ApiTestServerOptions, 'settings' | 'deleteKeys'> & {
    queueOverrides?: Record<string, string>;
    daemonEnv?: Record<string, string>;
  },
): Promise<ServeWithDaemon> {
  const { queueOverrides, daemonEnv, ...serverOptions } = options;
  const queue = await TestQueue.create(queueOverrides);
  const daemon = queue.startDaemon(daemonEnv);
  const server = await apiTestServerOn(queue, serverOptions);
  await daemon.waitForLog('daemon.started');
  return {
    queue,
    daemon,
    server,
    async close() {
      try {
        await server.close();
        await queue.cleanup();
      } finally {
        await removeTempDirs();
      }
    },
  };
}
