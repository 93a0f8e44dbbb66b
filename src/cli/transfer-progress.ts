import { SingleBar } from 'cli-progress';

const THROTTLE_MS = 5_000;
const MIB = 1024 * 1024;

/**
 * Progress of large transfers: a bar with bytes, rate and ETA on a terminal; off a terminal, one plain
 * line every few seconds. Small transfers show nothing.
 */
export function transferProgress(stream: NodeJS.WriteStream, minimumBytes = 64 * MIB) {
  let current: { phase: string; bar?: SingleBar; done: number; total: number; lastLine: number } | undefined;
  const finish = (): void => {
    current?.bar?.stop();
    current = undefined;
  };
  return {
    onTransfer(phase: string, bytes: number, totalBytes: number): void {
      if (totalBytes < minimumBytes) return;
      if (current?.phase !== phase || current.total !== totalBytes) {
        finish();
        current = { phase, done: 0, total: totalBytes, lastLine: 0 };
        if (stream.isTTY) {
          current.bar = new SingleBar({
            stream,
            format: `${phase.padEnd(8)} [{bar}] {percentage}% | {value}/{total} MiB | {speed} MiB/s | ETA {eta_formatted}`,
            hideCursor: true,
          });
          current.bar.start(Math.ceil(totalBytes / MIB), 0, { speed: '0' });
        }
      }
      current.done += bytes;
      const startedAt = (current as { startedAt?: number }).startedAt ?? Date.now();
      (current as { startedAt?: number }).startedAt = startedAt;
      const speed = (current.done / MIB / Math.max(0.001, (Date.now() - startedAt) / 1000)).toFixed(1);
      if (current.bar) {
        current.bar.update(Math.floor(current.done / MIB), { speed });
      } else if (Date.now() - current.lastLine >= THROTTLE_MS || current.done >= current.total) {
        current.lastLine = Date.now();
        stream.write(
          `action-worker: ${phase} ${Math.floor(current.done / MIB)}/${Math.ceil(current.total / MIB)} MiB (${speed} MiB/s)\n`,
        );
      }
      if (current.done >= current.total) finish();
    },
    finish,
  };
}
