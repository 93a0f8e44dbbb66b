import os from 'node:os';
import { randomUUID } from 'node:crypto';

/**
 * The daemon's lifecycle, one state at a time:
 * - `starting`: waiting for Docker and Redis, sweeping leftovers; nothing is fetched yet;
 * - `running`: fetching whenever there is room;
 * - `draining`: stopped fetching; running invocations get the drain window to finish;
 * - `stopping`: what still runs is stopped and handed back (drain window over, or forced); closing;
 * - `stopped`: everything closed;
 * - `failed`: start-up failed.
 */
export type DaemonState = 'starting' | 'running' | 'draining' | 'stopping' | 'stopped' | 'failed';

/** Where each state may go. */
const NEXT_STATES: Readonly<Record<DaemonState, readonly DaemonState[]>> = {
  starting: ['running', 'draining', 'failed'],
  running: ['draining'],
  draining: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
  failed: ['draining'],
};

/** Whether the daemon may go from `from` to `next` (never to the state it is in). */
export function canMoveTo(from: DaemonState, next: DaemonState): boolean {
  return from !== next && NEXT_STATES[from].includes(next);
}

/** A worker id unique across hosts and restarts: host, pid and a random part. */
export function newWorkerId(): string {
  return `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
}
