/**
 * Splits a byte stream into lines. A line longer than `maxLineBytes` is cut into pieces of that size (the
 * reader sees each piece as a line and the piece flagged as partial), so one endless line cannot grow a
 * buffer without bound.
 */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly maxLineBytes: number) {}

  /** Complete lines (without their newline) found so far. */
  push(chunk: Buffer): { line: Buffer; isPartial: boolean }[] {
    const lines: { line: Buffer; isPartial: boolean }[] = [];
    let data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let start = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, start);
      const end = newline === -1 ? data.length : newline;
      if (end - start >= this.maxLineBytes) {
        lines.push({ line: data.subarray(start, start + this.maxLineBytes), isPartial: true });
        start += this.maxLineBytes;
        continue;
      }
      if (newline === -1) break;
      lines.push({ line: data.subarray(start, newline), isPartial: false });
      start = newline + 1;
    }
    data = data.subarray(start);
    // Copy what is kept, so the big chunk it came from can be freed.
    this.pending = Buffer.from(data);
    return lines;
  }

  /** The last line, when the stream did not end with a newline. */
  flush(): Buffer | undefined {
    if (this.pending.length === 0) return undefined;
    const rest = this.pending;
    this.pending = Buffer.alloc(0);
    return rest;
  }
}

/**
 * Keeps at most `capacityBytes` of a log: the first half as it came, and the most recent lines that fit in
 * the other half. What falls in between is counted and shown as one marker line.
 */
export class HeadTailBuffer {
  private readonly head: string[] = [];
  private headBytes = 0;
  private readonly tail: string[] = [];
  private tailBytes = 0;
  private droppedBytes = 0;
  private droppedLines = 0;
  private isHeadFull = false;

  constructor(private readonly capacityBytes: number) {}

  push(line: string): void {
    const size = Buffer.byteLength(line) + 1;
    const half = Math.floor(this.capacityBytes / 2);
    if (!this.isHeadFull && this.headBytes + size <= half) {
      this.head.push(line);
      this.headBytes += size;
      return;
    }
    this.isHeadFull = true;
    this.tail.push(line);
    this.tailBytes += size;
    while (this.tailBytes > this.capacityBytes - half && this.tail.length > 0) {
      const dropped = this.tail.shift() ?? '';
      const droppedSize = Buffer.byteLength(dropped) + 1;
      this.tailBytes -= droppedSize;
      this.droppedBytes += droppedSize;
      this.droppedLines += 1;
    }
  }

  get truncatedBytes(): number {
    return this.droppedBytes;
  }

  /** The kept log, with "… N bytes truncated …" where lines were dropped. */
  toString(): string {
    const marker =
      this.droppedBytes > 0 ? [`… ${this.droppedBytes} bytes (${this.droppedLines} lines) truncated …`] : [];
    const lines = [...this.head, ...marker, ...this.tail];
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }
}
