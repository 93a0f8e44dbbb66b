/** What a masked secret is replaced by. */
export const MASK = '***';

/** The forms of a secret that are masked: the value, base64 (also unpadded), URL- and JSON-encoded. */
export function secretVariants(secret: string): string[] {
  if (secret === '') return [];
  const base64 = Buffer.from(secret, 'utf8').toString('base64');
  const variants = new Set([
    secret,
    base64,
    base64.replace(/=+$/, ''),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1),
  ]);
  return [...variants].filter((variant) => variant.length > 0).sort((a, b) => b.length - a.length);
}

/**
 * Masks secrets in a byte stream delivered in chunks. A secret split across two chunks is still masked:
 * the end of a chunk that could be the start of a secret is held back until the next chunk or the end.
 * Nothing else is held, so output that cannot be a secret is never delayed.
 */
export class StreamMasker {
  private readonly patterns: Buffer[];
  private readonly holdBytes: number;
  private pending: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[]) {
    const variants = new Set(secrets.flatMap(secretVariants));
    this.patterns = [...variants]
      .map((variant) => Buffer.from(variant, 'utf8'))
      .sort((a, b) => b.length - a.length);
    this.holdBytes = Math.max(0, ...this.patterns.map((pattern) => pattern.length - 1));
  }

  get isActive(): boolean {
    return this.patterns.length > 0;
  }

  /** Masks what can be decided now and returns it; may hold back a tail. */
  push(chunk: Buffer): Buffer {
    if (!this.isActive) return chunk;
    const data = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const { masked, safeEnd } = this.mask(data, false);
    this.pending = data.subarray(safeEnd);
    return masked;
  }

  /** Masks and returns everything held back. */
  flush(): Buffer {
    if (!this.isActive || this.pending.length === 0) return Buffer.alloc(0);
    const { masked } = this.mask(this.pending, true);
    this.pending = Buffer.alloc(0);
    return masked;
  }

  /** Where the longest tail of `data` that is a proper prefix of some pattern starts (data.length if none). */
  private partialMatchStart(data: Buffer): number {
    for (let start = Math.max(0, data.length - this.holdBytes); start < data.length; start += 1) {
      const tail = data.subarray(start);
      if (
        this.patterns.some(
          (pattern) => pattern.length > tail.length && pattern.subarray(0, tail.length).equals(tail),
        )
      ) {
        return start;
      }
    }
    return data.length;
  }

  private mask(data: Buffer, isFinal: boolean): { masked: Buffer; safeEnd: number } {
    const limit = isFinal ? data.length : this.partialMatchStart(data);
    const parts: Buffer[] = [];
    let position = 0;
    let safeEnd = limit;
    while (position < data.length) {
      let best: { at: number; length: number } | undefined;
      for (const pattern of this.patterns) {
        const at = data.indexOf(pattern, position);
        if (
          at !== -1 &&
          (best === undefined || at < best.at || (at === best.at && pattern.length > best.length))
        ) {
          best = { at, length: pattern.length };
        }
      }
      if (best === undefined || best.at >= limit) break;
      parts.push(data.subarray(position, best.at), Buffer.from(MASK));
      position = best.at + best.length;
    }
    if (position > limit) safeEnd = position;
    parts.push(data.subarray(position, safeEnd));
    return { masked: Buffer.concat(parts), safeEnd };
  }
}
