import { z } from 'zod';

/** Labels every action container carries, so leftovers can be found and swept. */
export const LABEL_PREFIX = 'dev.action-worker';
export const Labels = {
  managed: `${LABEL_PREFIX}.managed`,
  workerId: `${LABEL_PREFIX}.worker-id`,
  invocationId: `${LABEL_PREFIX}.invocation-id`,
  attempt: `${LABEL_PREFIX}.attempt`,
  actionName: `${LABEL_PREFIX}.action`,
  /**
   * On a helper container (one the worker creates for an attempt besides the action's, e.g. to read the
   * image's /etc/passwd): what it is for. It carries the attempt's labels too, so it is swept like one.
   */
  helper: `${LABEL_PREFIX}.helper`,
  /** The host and process that own the container: a local run's leftovers are those whose process is gone. */
  ownerHost: `${LABEL_PREFIX}.owner-host`,
  ownerPid: `${LABEL_PREFIX}.owner-pid`,
  /** The owner's pid namespace: a pid only says something about a process in the same namespace. */
  ownerPidNamespace: `${LABEL_PREFIX}.owner-pid-namespace`,
  /** The daemon deployment the container belongs to (absent for local runs); see {@link Deployment}. */
  deploymentId: `${LABEL_PREFIX}.deployment.id`,
  deploymentKeyPrefix: `${LABEL_PREFIX}.deployment.key-prefix`,
  deploymentQueue: `${LABEL_PREFIX}.deployment.queue`,
} as const;

/**
 * Which daemon deployment owns a container or workspace: the id its Redis server holds for the key prefix
 * and queue (a random id written once, never anything from the URL, so never a credential), the key prefix
 * and the queue. Daemons sharing all three share one queue and one set of records, so one of them can tell
 * whether another's attempt is still current; for anything else it cannot, and must leave it alone. Two
 * servers reached by the same URL (two Compose projects' `redis:6379`) hold different ids.
 */
export const Deployment = z.object({
  id: z.string().min(1),
  keyPrefix: z.string().min(1),
  queue: z.string().min(1),
});
export type Deployment = z.infer<typeof Deployment>;

/** Who runs an attempt: the process (host, pid namespace, pid) and, for a daemon, its deployment. */
export interface Owner {
  host: string;
  pid: number;
  workerId: string;
  pidNamespace?: string | undefined;
  deployment?: Deployment | undefined;
}

export function ownerLabels(owner: Owner): Record<string, string> {
  return {
    [Labels.ownerHost]: owner.host,
    [Labels.ownerPid]: String(owner.pid),
    ...(owner.pidNamespace === undefined ? {} : { [Labels.ownerPidNamespace]: owner.pidNamespace }),
    ...(owner.deployment === undefined ? {} : deploymentLabels(owner.deployment)),
  };
}

export function deploymentLabels(deployment: Deployment): Record<string, string> {
  return {
    [Labels.deploymentId]: deployment.id,
    [Labels.deploymentKeyPrefix]: deployment.keyPrefix,
    [Labels.deploymentQueue]: deployment.queue,
  };
}

/** The deployment the labels name, or undefined when they name none (a local run, an older version). */
export function deploymentFromLabels(labels: Record<string, string>): Deployment | undefined {
  const parsed = Deployment.safeParse({
    id: labels[Labels.deploymentId],
    keyPrefix: labels[Labels.deploymentKeyPrefix],
    queue: labels[Labels.deploymentQueue],
  });
  return parsed.success ? parsed.data : undefined;
}

/** Both name a deployment, and the same one. */
export function isSameDeployment(a: Deployment | undefined, b: Deployment | undefined): boolean {
  return (
    a !== undefined && b !== undefined && a.id === b.id && a.keyPrefix === b.keyPrefix && a.queue === b.queue
  );
}

export interface ContainerIdentity {
  workerId: string;
  invocationId: string;
  attempt: number;
  actionName: string;
}

export function containerLabels(identity: ContainerIdentity): Record<string, string> {
  return {
    [Labels.managed]: 'true',
    [Labels.workerId]: identity.workerId,
    [Labels.invocationId]: identity.invocationId,
    [Labels.attempt]: String(identity.attempt),
    [Labels.actionName]: identity.actionName,
  };
}

/** What a helper container is for (the value of its {@link Labels.helper} label). */
export const HelperPurpose = {
  /** Reads the image's /etc/passwd and /etc/group to resolve its USER. */
  imageUser: 'image-user',
} as const;
export type HelperPurpose = (typeof HelperPurpose)[keyof typeof HelperPurpose];

/**
 * Labels of a helper container: those of the attempt it serves (managed, worker, invocation, attempt,
 * action), what it is for, and its owner (process and, for a daemon, deployment), so a crash before its
 * removal leaves something the sweep can judge, exactly as it judges the attempt's own container.
 */
export function helperLabels(
  purpose: HelperPurpose,
  identity: ContainerIdentity,
  owner: Owner,
): Record<string, string> {
  return { ...containerLabels(identity), [Labels.helper]: purpose, ...ownerLabels(owner) };
}

/** Deterministic per invocation and attempt, so a second create for the same attempt conflicts. */
export function containerName(invocationId: string, attempt: number): string {
  return `action-worker-${invocationId}-${attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}
