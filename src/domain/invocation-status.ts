/** Invocation statuses as the integers the contract uses on the wire (spec §8.1). */
export const InvocationStatus = {
  Queued: 0,
  Scheduled: 1,
  Downloading: 2,
  Processing: 3,
  Uploading: 4,
  Completed: 5,
  Cancelled: 997,
  Failed: 998,
  Deadly: 999,
} as const;
export type InvocationStatus = (typeof InvocationStatus)[keyof typeof InvocationStatus];
export type InvocationStatusName = keyof typeof InvocationStatus;

export const ALL_STATUSES: readonly InvocationStatus[] = Object.values(InvocationStatus);

const NAMES = new Map<number, InvocationStatusName>(
  Object.entries(InvocationStatus).map(([name, value]) => [value, name as InvocationStatusName]),
);

export function statusName(status: InvocationStatus): InvocationStatusName {
  const name = NAMES.get(status);
  if (name === undefined) throw new RangeError(`unknown invocation status ${String(status)}`);
  return name;
}

/** Parses a wire status: a number or a numeric string. The name string is rejected, as the SDK does. */
export function parseStatus(value: unknown): InvocationStatus | undefined {
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && NAMES.has(number) ? (number as InvocationStatus) : undefined;
}

/** Completed, Cancelled, Deadly: nothing follows. (Failed is not among them: a retry may re-queue it.) */
export const FINAL_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  InvocationStatus.Completed,
  InvocationStatus.Cancelled,
  InvocationStatus.Deadly,
]);

/** Whether no status can follow this one: Completed, Cancelled or Deadly. */
export function isFinal(status: InvocationStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** Scheduled, Downloading, Processing, Uploading: the statuses an attempt holds. */
export const IN_PROGRESS_STATUSES: ReadonlySet<InvocationStatus> = new Set([
  InvocationStatus.Scheduled,
  InvocationStatus.Downloading,
  InvocationStatus.Processing,
  InvocationStatus.Uploading,
]);

/** Scheduled, Downloading, Processing, Uploading: an attempt holds the invocation (picked up, not ended). */
export function isInProgress(status: InvocationStatus): boolean {
  return IN_PROGRESS_STATUSES.has(status);
}

/** Completed, Cancelled, Failed and Deadly. Failed is terminal although a retry may re-queue it. */
export function isTerminal(status: InvocationStatus): boolean {
  return status >= InvocationStatus.Completed;
}

/** `can_transition_to` of the SDK, rule for rule (spec §8.1). */
export function canTransition(from: InvocationStatus, to: InvocationStatus): boolean {
  if (from === to) return true;
  if (isFinal(from)) return false;
  if (from === InvocationStatus.Failed)
    return to === InvocationStatus.Queued || to === InvocationStatus.Deadly;
  if (to === InvocationStatus.Cancelled || to === InvocationStatus.Failed) return true;
  if (to === InvocationStatus.Deadly) return from === InvocationStatus.Queued;
  return to > from;
}

/** One entry of an invocation's status history. */
export interface StatusRecord {
  status: InvocationStatus;
  detail: string | null;
  timestamp: string;
}

/** The current status: the history sorted by (timestamp, status value), last entry. */
export function currentStatus(history: readonly StatusRecord[]): InvocationStatus | undefined {
  const sorted = [...history].sort(
    (a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || a.status - b.status,
  );
  return sorted[sorted.length - 1]?.status;
}
