import type { Logger } from 'pino';

/** Flushes of live output to the record: at most this big, at least this often. */
export const LIVE_FLUSH_BYTES = 64 * 1024;
const LIVE_FLUSH_MS = 1_000;

/** The running attempt's output, sent to the record in flushes of up to 64 KiB at least once a second. */
export class LiveLog {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly append: (text: string) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  write(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= LIVE_FLUSH_BYTES) this.flush();
    else
      this.timer ??= setTimeout(() => {
        this.flush();
      }, LIVE_FLUSH_MS);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pendingBytes === 0) return;
    const text = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    this.flushing = this.flushing
      .then(async () => {
        for (let offset = 0; offset < text.length; offset += LIVE_FLUSH_BYTES) {
          await this.append(text.slice(offset, offset + LIVE_FLUSH_BYTES));
        }
      })
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'record.live_log_failed');
      });
  }

  async close(): Promise<void> {
    this.flush();
    await this.flushing;
  }
}
