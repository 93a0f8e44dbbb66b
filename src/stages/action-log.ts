import { once } from 'node:events';
import { type WriteStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HeadTailBuffer, LineSplitter } from '../domain/log-lines.js';
import { StreamMasker } from '../domain/secret-masker.js';
import type { OutputStream } from '../ports/container-runtime.js';

export interface ActionLogOptions {
  secrets: readonly string[];
  /** The masked bytes, as they come: the terminal, or the daemon's live log. */
  live: (stream: OutputStream, chunk: Buffer) => Promise<void>;
  storedBytes: number;
  maxLineBytes: number;
  /** The full log file, or null for none. */
  file: string | null;
  fileBytes: number;
  now?: () => Date;
}

/**
 * Everything the action prints goes through here: secrets masked first (across chunk boundaries), then
 * live to its reader as it came, and line by line, timestamped, into a capped head-and-tail log and a
 * full log file up to a larger cap. Memory stays bounded whatever the action prints.
 */
export class ActionLog {
  private readonly maskers: Record<OutputStream, StreamMasker>;
  private readonly splitters: Record<OutputStream, LineSplitter>;
  private readonly stored: HeadTailBuffer;
  private file: WriteStream | undefined;
  private fileWritten = 0;
  private fileCut = false;
  private fileError: Error | undefined;
  private readonly now: () => Date;

  constructor(private readonly options: ActionLogOptions) {
    this.maskers = { stdout: new StreamMasker(options.secrets), stderr: new StreamMasker(options.secrets) };
    this.splitters = {
      stdout: new LineSplitter(options.maxLineBytes),
      stderr: new LineSplitter(options.maxLineBytes),
    };
    this.stored = new HeadTailBuffer(options.storedBytes);
    this.now = options.now ?? (() => new Date());
  }

  async open(): Promise<void> {
    if (this.options.file === null) return;
    await mkdir(path.dirname(this.options.file), { recursive: true });
    this.file = createWriteStream(this.options.file, { flags: 'w', mode: 0o644 });
    // Without a listener an error of the file (ENOSPC) would crash the worker; it is kept and raised instead.
    this.file.on('error', (error) => {
      this.fileError ??= error;
    });
    await once(this.file, 'open');
  }

  /** Takes one chunk of the container's output. */
  async write(stream: OutputStream, chunk: Buffer): Promise<void> {
    await this.emit(stream, this.maskers[stream].push(chunk));
  }

  /** The capped log kept with the invocation. */
  get text(): string {
    return this.stored.toString();
  }

  /** Flushes what the maskers and splitters hold and closes the file. */
  async close(): Promise<void> {
    for (const stream of ['stdout', 'stderr'] as const) {
      await this.emit(stream, this.maskers[stream].flush());
      const last = this.splitters[stream].flush();
      if (last !== undefined) await this.record(stream, last, false);
    }
    if (this.file !== undefined) {
      const file = this.file;
      this.file = undefined;
      await new Promise<void>((resolve, reject) => {
        file.end((error?: Error | null) => {
          if (error) reject(error);
          else resolve();
        });
      });
      this.raiseFileError();
    }
  }

  private async emit(stream: OutputStream, masked: Buffer): Promise<void> {
    if (masked.length === 0) return;
    await this.options.live(stream, masked);
    const lines = this.splitters[stream].push(masked);
    if (lines.length > 0) await this.recordAll(stream, lines);
  }

  private async record(stream: OutputStream, line: Buffer, isPartial: boolean): Promise<void> {
    await this.recordAll(stream, [{ line, isPartial }]);
  }

  /**
   * The lines of one chunk share its arrival time, and go to the file in one write: per-line timestamps and
   * writes would cost more CPU than the container spends producing a flood.
   */
  private async recordAll(
    stream: OutputStream,
    lines: { line: Buffer; isPartial: boolean }[],
  ): Promise<void> {
    const timestamp = this.now().toISOString();
    const texts = lines.map(
      ({ line, isPartial }) => `${timestamp} ${stream}${isPartial ? '+' : ' '} ${line.toString('utf8')}`,
    );
    for (const text of texts) this.stored.push(text);
    if (this.file === undefined || this.fileCut) return;
    const block = `${texts.join('\n')}\n`;
    const bytes = Buffer.byteLength(block);
    if (this.fileWritten + bytes <= this.options.fileBytes) {
      this.fileWritten += bytes;
      await this.writeFile(block);
      return;
    }
    // Fill up to the cap line by line, then say where the file was cut off.
    for (const text of texts) {
      const size = Buffer.byteLength(text) + 1;
      if (this.fileWritten + size > this.options.fileBytes) break;
      this.fileWritten += size;
      await this.writeFile(`${text}\n`);
    }
    this.fileCut = true;
    await this.writeFile(
      `… log file cut off at ${this.options.fileBytes} bytes; the head and tail are kept with the invocation\n`,
    );
  }

  private async writeFile(text: string): Promise<void> {
    this.raiseFileError();
    // once() rejects when the stream emits 'error' while it waits for 'drain'.
    if (this.file !== undefined && !this.file.write(text)) await once(this.file, 'drain');
  }

  private raiseFileError(): void {
    if (this.fileError !== undefined) throw this.fileError;
  }
}
