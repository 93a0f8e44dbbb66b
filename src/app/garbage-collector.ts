import { readlinkSync } from 'node:fs';
import { lstat, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalDataStore } from '../adapters/local/local-data-store.js';
import { Deployment, type Owner, Labels, deploymentFromLabels } from '../domain/container-labels.js';
import { FileCache } from '../stages/file-cache.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import { OWNER_FILE_SUFFIX } from '../stages/workspace.js';

/**
 * Who holds a container or workspace, as its labels or owner file say. A helper container (see
 * helperLabels) carries its attempt's labels, and `helper` says what it is for.
 */
export interface Ownership extends Owner {
  invocationId: string;
  attempt: number;
  helper?: string | undefined;
}

/**
 * This process's pid namespace (Linux), e.g. "pid:[4026531836]": two processes with one hostname (host
 * networking) may still not see each other's pids.
 */
export function currentPidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/** Whether a pid in `owner` names a process this one can see: same host and, when known, same pid namespace. */
export function isVisibleProcess(owner: Owner): boolean {
  if (owner.host !== os.hostname()) return false;
  return owner.pidNamespace === undefined || owner.pidNamespace === currentPidNamespace();
}

/**
 * Whether the invocation attempt behind a leftover is still alive. The local run's answer: its process
 * on this host still exists. (The daemon answers from the job's lock.) When it cannot tell, it must say
 * true: a leftover is only ever removed when its owner is known to be gone.
 */
export type IsLive = (owner: Ownership) => Promise<boolean>;

export const isLiveLocalProcess: IsLive = (owner) => {
  if (!isVisibleProcess(owner)) return Promise.resolve(true);
  try {
    process.kill(owner.pid, 0);
    return Promise.resolve(true);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return Promise.resolve((error as NodeJS.ErrnoException).code === 'EPERM');
  }
};

export interface GcReport {
  /** `helper`: what a helper container (not the action's own) was for. */
  removedContainers: { id: string; name: string; invocationId: string; helper?: string }[];
  removedWorkspaces: string[];
  /** secrets.json directories on the tmpfs whose attempt is gone. */
  removedSecrets: string[];
  /** Temporary files a crash left (a blob or a cache entry being copied), older than the age limit. */
  removedTemporaryFiles: string[];
  /** `foreign`: not this sweeper's to judge (another deployment, no owner marks). */
  kept: { what: string; why: string; foreign?: boolean }[];
}

/** A temporary file younger than this may belong to a live writer (its mtime moves as it is written). */
export const TEMPORARY_FILE_MAX_AGE_MS = 60 * 60_000;

/** Where a crash can leave temporary files: the store's tmp/ (blobs) and the input cache's tmp/. */
export function temporaryDirsOf(settings: { storeDir: string; cache: { dir: string } }): string[] {
  return [LocalDataStore.temporaryDir(settings.storeDir), FileCache.temporaryDir(settings.cache.dir)];
}

/**
 * Removes the containers, workspaces and secrets files carrying our marks that no live invocation owns,
 * and the temporary files in `temporaryDirs` not written to for `temporaryMaxAgeMs`; says what it removed
 * and what it kept. `isOurs` (default: everything with owner marks) says which ones this sweeper may judge
 * at all; the others are kept and reported as foreign. `dryRun` only reports.
 */
export async function collectGarbage(options: {
  runtime: ContainerRuntime;
  workspaceDir: string;
  /** The secrets tmpfs directory (secretsTmpfsDir). */
  secretsDir?: string;
  /** Directories of temporary files only (the store's tmp/, the cache's tmp/). */
  temporaryDirs?: string[];
  temporaryMaxAgeMs?: number;
  isLive: IsLive;
  isOurs?: (owner: Ownership) => boolean;
  dryRun?: boolean;
}): Promise<GcReport> {
  const report: GcReport = {
    removedContainers: [],
    removedWorkspaces: [],
    removedSecrets: [],
    removedTemporaryFiles: [],
    kept: [],
  };
  const isOurs = options.isOurs ?? (() => true);
  for (const container of await options.runtime.listLabelledContainers(`${Labels.managed}=true`)) {
    const owner = ownershipFromLabels(container.labels);
    if (owner === undefined) {
      report.kept.push({
        what: `container ${container.name}`,
        why: 'it carries no owner labels',
        foreign: true,
      });
      continue;
    }
    if (!isOurs(owner)) {
      report.kept.push({ what: `container ${container.name}`, why: notOurs(owner), foreign: true });
      continue;
    }
    if (await options.isLive(owner)) {
      report.kept.push({
        what: `container ${container.name}`,
        why: `its owner (${owner.host}:${owner.pid}) is alive`,
      });
      continue;
    }
    if (!options.dryRun) await options.runtime.removeContainer(container.id);
    report.removedContainers.push({
      id: container.id,
      name: container.name,
      invocationId: owner.invocationId,
      ...(owner.helper === undefined ? {} : { helper: owner.helper }),
    });
  }

  const sweep = { isLive: options.isLive, isOurs, dryRun: options.dryRun };
  report.removedWorkspaces = await sweepOwned(options.workspaceDir, 'workspace', sweep, report);
  if (options.secretsDir !== undefined) {
    report.removedSecrets = await sweepOwned(options.secretsDir, 'secrets', sweep, report);
  }
  const maxAgeMs = options.temporaryMaxAgeMs ?? TEMPORARY_FILE_MAX_AGE_MS;
  for (const dir of options.temporaryDirs ?? []) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const file = path.join(dir, name);
      const stats = await lstat(file).catch(() => undefined);
      if (stats === undefined || stats.isDirectory()) continue;
      if (Date.now() - stats.mtimeMs < maxAgeMs) {
        report.kept.push({ what: `temporary file ${file}`, why: 'it may still be being written' });
        continue;
      }
      if (!options.dryRun) await rm(file, { force: true });
      report.removedTemporaryFiles.push(file);
    }
  }
  return report;
}

/** The `<name>` + `<name>.owner.json` pairs in `dir` whose owner is gone: removed (unless dry run). */
async function sweepOwned(
  dir: string,
  kind: string,
  options: { isLive: IsLive; isOurs: (owner: Ownership) => boolean; dryRun?: boolean },
  report: GcReport,
): Promise<string[]> {
  const removed: string[] = [];
  const entries = await readdir(dir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  for (const entry of entries.filter((name) => name.endsWith(OWNER_FILE_SUFFIX))) {
    const ownerFile = path.join(dir, entry);
    const target = ownerFile.slice(0, -OWNER_FILE_SUFFIX.length);
    const owner = await readOwnerFile(ownerFile);
    if (owner === undefined) {
      report.kept.push({ what: `${kind} ${target}`, why: 'its owner file is unreadable', foreign: true });
      continue;
    }
    if (!options.isOurs(owner)) {
      report.kept.push({ what: `${kind} ${target}`, why: notOurs(owner), foreign: true });
      continue;
    }
    if (await options.isLive(owner)) {
      report.kept.push({
        what: `${kind} ${target}`,
        why: `its owner (${owner.host}:${owner.pid}) is alive`,
      });
      continue;
    }
    if (!options.dryRun) {
      await rm(target, { recursive: true, force: true });
      await rm(ownerFile, { force: true });
    }
    removed.push(target);
  }
  return removed;
}

function notOurs(owner: Ownership): string {
  const { deployment } = owner;
  return deployment === undefined
    ? `it names no deployment (owner ${owner.host}:${owner.pid})`
    : `it belongs to another deployment (id ${deployment.id}, queue ${deployment.queue}, key prefix ${deployment.keyPrefix})`;
}

function ownershipFromLabels(labels: Record<string, string>): Ownership | undefined {
  const pid = Number(labels[Labels.ownerPid]);
  const host = labels[Labels.ownerHost];
  const invocationId = labels[Labels.invocationId];
  if (!host || !Number.isInteger(pid) || !invocationId) return undefined;
  return {
    host,
    pid,
    workerId: labels[Labels.workerId] ?? '',
    invocationId,
    helper: labels[Labels.helper] || undefined,
    attempt: Number(labels[Labels.attempt] ?? 0),
    pidNamespace: labels[Labels.ownerPidNamespace] || undefined,
    deployment: deploymentFromLabels(labels),
  };
}

async function readOwnerFile(file: string): Promise<Ownership | undefined> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as Partial<Record<keyof Ownership, unknown>>;
    if (
      typeof owner.host !== 'string' ||
      typeof owner.pid !== 'number' ||
      typeof owner.invocationId !== 'string'
    ) {
      return undefined;
    }
    return {
      host: owner.host,
      pid: owner.pid,
      workerId: typeof owner.workerId === 'string' ? owner.workerId : '',
      invocationId: owner.invocationId,
      attempt: typeof owner.attempt === 'number' ? owner.attempt : 0,
      pidNamespace: typeof owner.pidNamespace === 'string' ? owner.pidNamespace : undefined,
      deployment: Deployment.safeParse(owner.deployment).data,
    };
  } catch {
    return undefined;
  }
}
