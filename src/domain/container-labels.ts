/** Labels every action container carries, so leftovers can be found and swept. */
export const LABEL_PREFIX = 'dev.action-worker';
export const Labels = {
  managed: `${LABEL_PREFIX}.managed`,
  workerId: `${LABEL_PREFIX}.worker-id`,
  invocationId: `${LABEL_PREFIX}.invocation-id`,
  attempt: `${LABEL_PREFIX}.attempt`,
  actionName: `${LABEL_PREFIX}.action`,
  /** The host and process that own the container: a local run's leftovers are those whose process is gone. */
  ownerHost: `${LABEL_PREFIX}.owner-host`,
  ownerPid: `${LABEL_PREFIX}.owner-pid`,
} as const;

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

/** Deterministic per invocation and attempt, so a second create for the same attempt conflicts. */
export function containerName(invocationId: string, attempt: number): string {
  return `action-worker-${invocationId}-${attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}
