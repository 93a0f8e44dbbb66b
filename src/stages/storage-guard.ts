import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ActionWorkerError } from '../domain/errors.js';

/** Bytes used below a directory; links are not followed, a hard-linked file counts once per link. */
export async function directorySize(dir: string): Promise<number> {
  let total = 0;
  const walk = async (target: string): Promise<void> => {
    const stats = await lstat(target).catch(() => undefined);
    if (stats === undefined) return;
    total += stats.isDirectory() ? 0 : stats.size;
    if (!stats.isDirectory()) return;
    const entries = await readdir(target).catch(() => [] as string[]);
    for (const entry of entries) await walk(path.join(target, entry));
  };
  await walk(dir);
  return total;
}

export class StorageExceededError extends ActionWorkerError {
  constructor(
    readonly usedBytes: number,
    readonly limitBytes: number,
    what = 'the workspace holds',
  ) {
    super(`storage exceeded: ${what} ${formatGiB(usedBytes)}, the limit is ${formatGiB(limitBytes)}`, {
      code: 'E_STORAGE_EXCEEDED',
    });
  }
}

function formatGiB(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 3 : 1)} GiB`;
}

/**
 * The best-effort storage limit where the engine cannot size a container's writable layer: the workspace
 * is measured every `intervalMs` while the action runs, and `onExceeded` is called once when it holds
 * more than `limitBytes`. It does not see what the action writes outside the workspace.
 */
export function watchWorkspaceSize(
  dir: string,
  limitBytes: number,
  intervalMs: number,
  onExceeded: (error: StorageExceededError) => void,
): () => void {
  let isStopped = false;
  let isMeasuring = false;
  const timer = setInterval(() => {
    if (isMeasuring || isStopped) return;
    isMeasuring = true;
    void directorySize(dir)
      .then((used) => {
        if (!isStopped && used > limitBytes) {
          isStopped = true;
          clearInterval(timer);
          onExceeded(new StorageExceededError(used, limitBytes));
        }
      })
      .finally(() => {
        isMeasuring = false;
      });
  }, intervalMs);
  return () => {
    isStopped = true;
    clearInterval(timer);
  };
}
