import type { Logger } from 'pino';
import { type Deployment, isSameDeployment } from '../../domain/container-labels.js';
import { InvocationStatus, isInProgress } from '../../domain/invocation-status.js';
import type { ContainerRuntime } from '../../ports/container-runtime.js';
import type { InvocationStore } from '../../ports/invocation-store.js';
import type { JobQueue } from '../../ports/job-queue.js';
import {
  type IsLive,
  type Ownership,
  collectGarbage,
  isLiveLocalProcess,
  isVisibleProcess,
} from '../garbage-collector.js';

/** At most this many foreign leftovers are listed in a log line; the count says how many there are. */
const FOREIGN_LISTED = 50;

export interface ReconcilerDeps {
  runtime: ContainerRuntime;
  store: InvocationStore;
  queue: JobQueue;
  workspaceDir: string;
  /** The secrets tmpfs directory (secretsTmpfsDir): attempts' secrets.json, swept like workspaces. */
  secretsDir: string;
  /** Where a crash can leave temporary files (the store's and the cache's tmp/). */
  temporaryDirs: string[];
  logger: Logger;
  workerId: string;
  /**
   * This daemon's deployment (the id its Redis server holds, the key prefix, the queue): only leftovers
   * labelled with it are ever judged, let alone removed.
   */
  deployment: Deployment;
  /** Whether this daemon runs that attempt right now. */
  isRunningHere: (invocationId: string, attempt: number) => boolean;
}

/**
 * The daemon's leftover sweep. A leftover container or workspace is removed only when it is provably
 * ours (its labels name this deployment: the id our Redis server holds, key prefix, queue) and provably
 * dead (its owner process on this host is gone, or its job is no longer locked, or a later attempt has
 * started). Everything else on the engine (other deployments, local runs, CI, older versions without a
 * deployment id label) is left alone and reported as `reconcile.kept_foreign`.
 */
export class Reconciler {
  /** What was last reported as foreign: reported again only when it changes. */
  private lastForeign = '';

  constructor(private readonly deps: ReconcilerDeps) {}

  /**
   * Removes our dead leftovers and settles their invocations: one whose job is still queued or held is
   * left to redelivery (the next attempt records the loss); one whose job is gone is Failed, so nothing
   * stays Processing forever.
   *
   * A leftover of our deployment whose job is missing from our queue is dead, not foreign: the deployment
   * id lives in our Redis server, so a container labelled with it was started for a job of this very queue,
   * and a running job is never removed from it (a locked job cannot be; only a finished or deleted one is
   * gone). Keeping it would leave a dead attempt's container, and its Processing record, for ever. The
   * collision that once made this wrong (two servers reached by the same URL shared one label) cannot
   * happen with a server-held id; another deployment's leftovers never get here.
   */
  async run(when: 'startup' | 'periodic'): Promise<void> {
    const { runtime, store, queue, logger, deployment } = this.deps;
    const report = await collectGarbage({
      runtime,
      workspaceDir: this.deps.workspaceDir,
      secretsDir: this.deps.secretsDir,
      temporaryDirs: this.deps.temporaryDirs,
      isLive: this.isLive,
      isOurs: (owner) => isSameDeployment(owner.deployment, deployment),
    });
    if (
      report.removedContainers.length > 0 ||
      report.removedWorkspaces.length > 0 ||
      report.removedSecrets.length > 0 ||
      report.removedTemporaryFiles.length > 0
    ) {
      logger.warn(
        {
          when,
          containers: report.removedContainers,
          workspaces: report.removedWorkspaces,
          secrets: report.removedSecrets,
          temporaryFiles: report.removedTemporaryFiles,
        },
        'reconcile.removed_leftovers',
      );
    }
    const foreign = report.kept.filter((entry) => entry.foreign === true);
    const fingerprint = foreign.map((entry) => entry.what).join('\n');
    if (foreign.length > 0 && (when === 'startup' || fingerprint !== this.lastForeign)) {
      logger.info(
        {
          when,
          count: foreign.length,
          // The first ones, for a line of bounded size on an engine shared with many others.
          kept: foreign.slice(0, FOREIGN_LISTED).map(({ what, why }) => ({ what, why })),
        },
        'reconcile.kept_foreign',
      );
    }
    this.lastForeign = fingerprint;

    for (const { invocationId } of report.removedContainers) {
      const record = await store.get(invocationId);
      if (record === undefined || record.is_finished) continue;
      if (!isInProgress(record.last_status)) continue;
      if (await queue.isJobGone(invocationId)) {
        await store
          .transition(invocationId, InvocationStatus.Failed, 'its worker died and its job is gone', {
            final: true,
          })
          .catch((error: unknown) => {
            logger.warn({ err: error, invocationId }, 'reconcile.settle_failed');
          });
      }
    }
  }

  /**
   * Alive (for a leftover of our deployment): this daemon runs it; another process on this host that we
   * can see is alive; else (another host, another pid namespace) its job is locked and its attempt is
   * still the current one.
   */
  private readonly isLive: IsLive = async (owner: Ownership) => {
    if (owner.workerId === this.deps.workerId) {
      return this.deps.isRunningHere(owner.invocationId, owner.attempt);
    }
    if (isVisibleProcess(owner)) {
      // Same pid but another worker id: an earlier run of this process's container (pid 1 again).
      if (owner.pid === process.pid) return false;
      return await isLiveLocalProcess(owner);
    }
    return await this.deps.queue.isAttemptCurrent(owner.invocationId, owner.attempt);
  };
}
