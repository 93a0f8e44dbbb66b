import { SingleBar } from 'cli-progress';
import type { TransferDirection, TransferObserver } from '../ports/transfer-observer.js';

const THROTTLE_MS = 5_000;
const MIB = 1024 * 1024;

export interface TransferProgress extends TransferObserver {
  planned(direction: TransferDirection, totalBytes: number): void;
  /** The same progress, its bars labelled `label` instead of their direction (an import is an upload). */
  labelled(label: string): TransferObserver;
  /** Ends the current bar, if any (a transfer cut short). */
  finish(): void;
}

/**
 * Progress of large transfers: a bar with bytes, rate and ETA on a terminal; off a terminal, one plain
 * line every few seconds. Small transfers show nothing. Each planned transfer gets a bar of its own,
 * labelled with its direction.
 */
export function transferProgress(stream: NodeJS.WriteStream, minimumBytes = 64 * MIB): TransferProgress {
  let current:
    | {
        direction: TransferDirection;
        name: string;
        bar?: SingleBar;
        done: number;
        total: number;
        startedAt: number;
        lastLine: number;
      }
    | undefined;
  const finish = (): void => {
    current?.bar?.stop();
    current = undefined;
  };
  const start = (direction: TransferDirection, totalBytes: number, name: string): void => {
    finish();
    if (totalBytes < minimumBytes) return;
    current = { direction, name, done: 0, total: totalBytes, startedAt: Date.now(), lastLine: 0 };
    if (stream.isTTY) {
      current.bar = new SingleBar({
        stream,
        format: `${name.padEnd(8)} [{bar}] {percentage}% | {value}/{total} MiB | {speed} MiB/s | ETA {eta_formatted}`,
        hideCursor: true,
      });
      current.bar.start(Math.ceil(totalBytes / MIB), 0, { speed: '0' });
    }
  };
  const moved = (direction: TransferDirection, bytes: number): void => {
    if (current?.direction !== direction) return;
    current.done += bytes;
    const elapsedSeconds = Math.max(0.001, (Date.now() - current.startedAt) / 1000);
    const speed = (current.done / MIB / elapsedSeconds).toFixed(1);
    if (current.bar) {
      current.bar.update(Math.floor(current.done / MIB), { speed });
    } else if (Date.now() - current.lastLine >= THROTTLE_MS || current.done >= current.total) {
      current.lastLine = Date.now();
      stream.write(
        `action-worker: ${current.name} ${Math.floor(current.done / MIB)}/${Math.ceil(current.total / MIB)} MiB (${speed} MiB/s)\n`,
      );
    }
    if (current.done >= current.total) finish();
  };
  return {
    planned: (direction, totalBytes) => {
      start(direction, totalBytes, direction);
    },
    moved,
    labelled: (label) => ({
      planned: (direction, totalBytes) => {
        start(direction, totalBytes, label);
      },
      moved,
    }),
    finish,
  };
}
