import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import { splitUtf8 } from '../../domain/split-utf8.js';
import type { OutputStream } from '../../ports/container-runtime.js';

/** Flushes of live output to the record: at most this many bytes of UTF-8, at least this often. */
export const LIVE_FLUSH_BYTES = 64 * 1024;
const LIVE_FLUSH_MS = 1_000;

/**
 * The running attempt's output, sent to the record in flushes of up to 64 KiB at least once a second.
 * Each stream is decoded on its own and across chunks, so a character split between two chunks, two
 * flushes, or around a chunk of the other stream arrives whole; a flush is cut into entries on character
 * boundaries.
 */
export class LiveLog {
  private readonly decoders: Record<OutputStream, StringDecoder> = {
    stdout: new StringDecoder('utf8'),
    stderr: new StringDecoder('utf8'),
  };
  private pending: string[] = [];
  private pendingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly append: (text: string) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  write(stream: OutputStream, chunk: Buffer): void {
    // The decoder keeps the bytes of a character not complete yet for the next chunk of its stream.
    this.pending.push(this.decoders[stream].write(chunk));
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
    const pieces = splitUtf8(this.pending.join(''), LIVE_FLUSH_BYTES);
    this.pending = [];
    this.pendingBytes = 0;
    if (pieces.length === 0) return;
    this.flushing = this.flushing
      .then(async () => {
        for (const piece of pieces) await this.append(piece);
      })
      .catch((error: unknown) => {
        this.logger.warn({ err: error }, 'record.live_log_failed');
      });
  }

  /** Sends what is left; output that ended inside a character shows it as U+FFFD. */
  async close(): Promise<void> {
    for (const decoder of Object.values(this.decoders)) this.pending.push(decoder.end());
    this.flush();
    await this.flushing;
  }
}
