import { randomBytes } from 'node:crypto';
import { type WriteStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';

/** A body that carried more bytes than the manifest declares for its path: nothing of it is kept. */
export class StagedTooLarge extends Error {
  constructor(readonly declaredBytes: number) {
    super(`more than the ${declaredBytes} bytes declared`);
    this.name = 'StagedTooLarge';
  }
}

/** A body that ended before the declared size (or was cut off): nothing of it is kept. */
export class StagedTooShort extends Error {
  constructor(
    readonly receivedBytes: number,
    readonly declaredBytes: number,
  ) {
    super(`${receivedBytes} of the ${declaredBytes} bytes declared`);
    this.name = 'StagedTooShort';
  }
}

/** A body that sent nothing for the idle timeout: nothing of it is kept. */
export class StagedIdle extends Error {
  constructor(
    readonly receivedBytes: number,
    readonly idleMs: number,
  ) {
    super(`no bytes for ${idleMs} ms after ${receivedBytes}`);
    this.name = 'StagedIdle';
  }
}

/**
 * Where API uploads keep their bytes until their transaction completes: `<dir>/<ut_id>/<n>`, `n` the
 * file's place in the transaction's sorted manifest, so no name comes from the client. `dir` is in the
 * store's own directory (`<storeDir>/uploads`), so every `serve` replica sharing the store sees the bytes
 * another took. A file is written beside its final name and renamed over it once whole: a retried PUT
 * replaces it, and a reader sees the old bytes or the new, never part of them.
 */
export class UploadStaging {
  constructor(readonly dir: string) {}

  /** The transaction's directory (its id is ours: `ut_…`, checked before it gets here). */
  private transactionDir(transactionId: string): string {
    return path.join(this.dir, transactionId);
  }

  /** Where the file at `index` of the manifest is staged. */
  fileOf(transactionId: string, index: number): string {
    return path.join(this.transactionDir(transactionId), String(index));
  }

  /**
   * Streams `body` to the file at `index`, never holding it whole: StagedTooLarge as soon as it carries
   * more than `declaredBytes` (the body is then left unread: answer with `Connection: close`),
   * StagedTooShort when it ends with fewer, StagedIdle when it sends nothing for `idleTimeoutMs` (the
   * body is then left unread too). Whatever the refusal, nothing is kept and what was staged before stays.
   */
  async write(
    transactionId: string,
    index: number,
    body: Readable | undefined,
    declaredBytes: number,
    idleTimeoutMs?: number,
  ): Promise<void> {
    if (body !== undefined && !(body instanceof Readable)) {
      throw new TypeError('an upload body must be a byte stream');
    }
    const target = this.fileOf(transactionId, index);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const part = `${target}.${randomBytes(6).toString('hex')}.part`;
    let sink: WriteStream | undefined;
    let received = 0;
    let idle: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const settle = (error?: Error): void => {
          if (settled) return;
          settled = true;
          clearTimeout(idle);
          if (error === undefined) {
            resolve();
            return;
          }
          if (sink !== undefined) body?.unpipe(sink);
          body?.pause();
          if (sink === undefined || sink.closed) {
            reject(error);
            return;
          }
          // Rejected once the file is closed, so that removing it leaves nothing behind.
          sink.once('close', () => {
            reject(error);
          });
          sink.destroy();
        };
        const arm = (): void => {
          if (idleTimeoutMs === undefined || body === undefined) return;
          clearTimeout(idle);
          idle = setTimeout(() => {
            settle(new StagedIdle(received, idleTimeoutMs));
          }, idleTimeoutMs);
        };
        // The body's listeners first: nothing that can throw comes between opening the file and piping.
        body?.on('data', (chunk: Buffer) => {
          arm();
          received += chunk.length;
          if (received > declaredBytes) settle(new StagedTooLarge(declaredBytes));
        });
        body?.once('error', () => {
          settle(new StagedTooShort(received, declaredBytes));
        });
        body?.once('close', () => {
          if (!body.readableEnded) settle(new StagedTooShort(received, declaredBytes));
        });
        try {
          const opened = createWriteStream(part, { flags: 'wx', mode: 0o600 });
          sink = opened;
          opened.once('error', settle);
          opened.once('close', () => {
            settle(opened.writableFinished ? undefined : new StagedTooShort(received, declaredBytes));
          });
          if (body === undefined) opened.end();
          else {
            arm();
            body.pipe(opened);
          }
        } catch (error) {
          settle(error instanceof Error ? error : new Error(String(error)));
        }
      });
      if (received !== declaredBytes) throw new StagedTooShort(received, declaredBytes);
      await rename(part, target);
    } finally {
      clearTimeout(idle);
      if (sink !== undefined && !sink.closed) {
        const open = sink;
        await new Promise<void>((resolve) => {
          open.once('close', resolve);
          open.destroy();
        });
      }
      await rm(part, { force: true });
    }
  }

  /** The size of the staged file at `index`, or undefined when none has arrived. */
  async sizeOf(transactionId: string, index: number): Promise<number | undefined> {
    const stats = await stat(this.fileOf(transactionId, index)).catch(() => undefined);
    return stats?.isFile() ? stats.size : undefined;
  }

  /** Removes everything the transaction staged. */
  async remove(transactionId: string): Promise<void> {
    await rm(this.transactionDir(transactionId), { recursive: true, force: true });
  }

  /**
   * Removes the staging directories not written to for `olderThanMs` whose transaction `isDone` (gone,
   * expired or completed): what a crash, or a client that never completed, left. Names that are not
   * transaction ids are left alone.
   */
  async sweep(
    olderThanMs: number,
    isDone: (transactionId: string) => Promise<boolean>,
    now = Date.now(),
  ): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!/^ut_[0-9a-z]+$/.test(name)) continue;
      const stats = await stat(this.transactionDir(name)).catch(() => undefined);
      if (stats === undefined || now - stats.mtimeMs < olderThanMs) continue;
      if (!(await isDone(name))) continue;
      await this.remove(name);
      removed.push(name);
    }
    return removed;
  }
}
