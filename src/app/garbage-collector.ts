import { readlinkSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Deployment, type Owner, Labels, deploymentFromLabels } from '../domain/container-labels.js';
import type { ContainerRuntime } from '../ports/container-runtime.js';
import { OWNER_FILE_SUFFIX } from '../stages/workspace.js';

/** Who holds a container or workspace, as its labels or owner file say. */
export interface Ownership extends Owner {
  invocationId: string;
  attempt: number;
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
  removedContainers: { id: string; name: string; invocationId: string }[];
  removedWorkspaces: string[];
  /** `foreign`: not this sweeper's to judge (another deployment, no owner marks). */
  kept: { what: string; why: string; foreign?: boolean }[];
}

/**
 * Removes the containers and workspaces carrying our marks that no live invocation owns, and says what it
 * removed and what it kept. `isOurs` (default: everything with owner marks) says which ones this sweeper
 * may judge at all; the others are kept and reported as foreign. `dryRun` only reports.
 */
export async function collectGarbage(options: {
  runtime: ContainerRuntime;
  workspaceDir: string;
  isLive: IsLive;
  isOurs?: (owner: Ownership) => boolean;
  dryRun?: boolean;
}): Promise<GcReport> {
  const report: GcReport = { removedContainers: [], removedWorkspaces: [], kept: [] };
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
    });
  }

  const entries = await readdir(options.workspaceDir).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  });
  for (const entry of entries.filter((name) => name.endsWith(OWNER_FILE_SUFFIX))) {
    const ownerFile = path.join(options.workspaceDir, entry);
    const workspace = ownerFile.slice(0, -OWNER_FILE_SUFFIX.length);
    const owner = await readOwnerFile(ownerFile);
    if (owner === undefined) {
      report.kept.push({
        what: `workspace ${workspace}`,
        why: 'its owner file is unreadable',
        foreign: true,
      });
      continue;
    }
    if (!isOurs(owner)) {
      report.kept.push({ what: `workspace ${workspace}`, why: notOurs(owner), foreign: true });
      continue;
    }
    if (await options.isLive(owner)) {
      report.kept.push({
        what: `workspace ${workspace}`,
        why: `its owner (${owner.host}:${owner.pid}) is alive`,
      });
      continue;
    }
    if (!options.dryRun) {
      await rm(workspace, { recursive: true, force: true });
      await rm(ownerFile, { force: true });
    }
    report.removedWorkspaces.push(workspace);
  }
  return report;
}

function notOurs(owner: Ownership): string {
  const { deployment } = owner;
  return deployment === undefined
    ? `it names no deployment (owner ${owner.host}:${owner.pid})`
    : `it belongs to another deployment (queue ${deployment.queue}, key prefix ${deployment.keyPrefix})`;
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
