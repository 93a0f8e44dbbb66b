/**
 * Which way bytes go: `download` out of the store into an action's workspace (inputs staged, cache hits
 * included), `upload` into the store (an action's outputs, and a folder imported by `datasets import` or
 * `run --input`, which is the same write).
 */
export type TransferDirection = 'download' | 'upload';

/**
 * Told about data transfers as they happen, with one meaning everywhere: from the store through the
 * pipeline to the CLI's progress bars and the daemon's metrics.
 */
export interface TransferObserver {
  /** A transfer of `totalBytes` in all is starting (what a progress bar needs for its total). */
  planned?(direction: TransferDirection, totalBytes: number): void;
  /** `bytes` more were moved: an increment since the last call, never a running total. */
  moved(direction: TransferDirection, bytes: number): void;
}
