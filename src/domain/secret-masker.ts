/** What a masked secret is replaced by. */
export const MASK = '***';

/**
 * The shortest base64 run taken from the middle of a stream that is masked: shorter runs would mask
 * innocent text; a secret too short to give one is still masked raw and in its other encodings.
 */
const MIN_BASE64_RUN = 8;

/**
 * The forms of a secret an action is likely to print, each masked: the value; base64 and base64url
 * (padded, unpadded, and the part fixed by the secret wherever it starts in a longer stream); hex;
 * URL-encoded as JS `encodeURIComponent` and Python's `quote`, `quote(safe='')` and `quote_plus` write it;
 * JSON-escaped as JS `JSON.stringify` and Python's `json.dumps` (`\u00e4`, surrogate pairs) write it; and
 * the inside of Python's `repr()`, `ascii()` and bytes repr.
 */
export function secretVariants(secret: string): string[] {
  if (secret === '') return [];
  const bytes = Buffer.from(secret, 'utf8');
  const variants = new Set<string>([
    secret,
    ...base64Variants(bytes),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
    ...urlVariants(secret),
    JSON.stringify(secret).slice(1, -1),
    pythonJsonEscape(secret),
    ...pythonReprVariants(secret, bytes),
  ]);
  return [...variants].filter((variant) => variant.length > 0).sort((a, b) => b.length - a.length);
}

function base64Variants(bytes: Buffer): string[] {
  const variants: string[] = [];
  for (const alphabet of ['base64', 'base64url'] as const) {
    const whole = bytes.toString(alphabet);
    variants.push(whole, whole.replace(/=+$/, ''));
    if (alphabet === 'base64url') variants.push(`${whole}${'='.repeat((4 - (whole.length % 4)) % 4)}`);
    // The secret at byte offset 0, 1 or 2 of a longer stream: only the characters whose six bits all come
    // from the secret are the same whatever surrounds it.
    for (const offset of [0, 1, 2]) {
      const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString(alphabet);
      const first = Math.ceil((8 * offset) / 6);
      const end = Math.floor((8 * (offset + bytes.length)) / 6);
      const run = encoded.slice(first, end);
      if (run.length >= MIN_BASE64_RUN) variants.push(run);
    }
  }
  return variants;
}

/** Percent-encodes, in upper-case hex, every UTF-8 byte of the characters `unreserved` does not match. */
function percentEncode(text: string, unreserved: RegExp, spaceAsPlus: boolean): string {
  let out = '';
  for (const char of text) {
    if (unreserved.test(char)) out += char;
    else if (spaceAsPlus && char === ' ') out += '+';
    else {
      for (const byte of Buffer.from(char, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

function urlVariants(secret: string): string[] {
  // Python's quote() keeps A-Z a-z 0-9 _ . - ~ and, by default, '/'.
  const quote = percentEncode(secret, /^[A-Za-z0-9_.~/-]$/, false);
  const quoteNoSafe = percentEncode(secret, /^[A-Za-z0-9_.~-]$/, false);
  const quotePlus = percentEncode(secret, /^[A-Za-z0-9_.~-]$/, true);
  const forms = [encodeURIComponent(secret), encodeURI(secret), quote, quoteNoSafe, quotePlus];
  // Some encoders write the hex digits in lower case.
  return [...forms, ...forms.map((form) => form.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()))];
}

/** A string's inside as Python's json.dumps writes it (ensure_ascii=True, the default). */
function pythonJsonEscape(secret: string): string {
  let out = '';
  for (let index = 0; index < secret.length; index += 1) {
    const char = secret[index] ?? '';
    const code = secret.charCodeAt(index);
    const short = JSON_SHORT_ESCAPES[char];
    if (short !== undefined) out += short;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += char;
  }
  // Iterating UTF-16 code units writes an astral character as its surrogate pair, as Python does.
  return out;
}

const JSON_SHORT_ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

const PYTHON_SHORT_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** The inside of Python's repr() (either quote), ascii() and the repr of the UTF-8 bytes. */
function pythonReprVariants(secret: string, bytes: Buffer): string[] {
  const repr = (quote: string, escapeNonAscii: boolean): string => {
    let out = '';
    for (const char of secret) {
      const code = char.codePointAt(0) ?? 0;
      const short = PYTHON_SHORT_ESCAPES[char];
      if (short !== undefined) out += short;
      else if (char === quote) out += `\\${quote}`;
      else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
      else if (escapeNonAscii && code > 0x7f) out += pythonCodeEscape(code);
      else out += char;
    }
    return out;
  };
  let bytesRepr = '';
  for (const byte of bytes) {
    const char = String.fromCharCode(byte);
    const short = PYTHON_SHORT_ESCAPES[char];
    if (short !== undefined) bytesRepr += short;
    else if (char === "'") bytesRepr += "\\'";
    else if (byte < 0x20 || byte > 0x7e) bytesRepr += `\\x${byte.toString(16).padStart(2, '0')}`;
    else bytesRepr += char;
  }
  return [repr("'", false), repr('"', false), repr("'", true), repr('"', true), bytesRepr];
}

function pythonCodeEscape(code: number): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

/**
 * An error as the log shows it (type, code, message, stack), its texts masked: an I/O error quotes the path
 * of a file the action named. The error itself is returned when there is nothing to mask.
 */
export function maskedError(error: unknown, mask: (text: string) => string): unknown {
  if (!(error instanceof Error)) return typeof error === 'string' ? mask(error) : error;
  const masked = { type: error.name, message: mask(error.message), stack: mask(error.stack ?? '') };
  if (masked.message === error.message && masked.stack === (error.stack ?? '')) return error;
  const code = (error as { code?: unknown }).code;
  return code === undefined ? masked : { ...masked, code };
}

/** A function masking every secret in a whole text (an error message, a path), not a stream. */
export function textMasker(secrets: readonly string[]): (text: string) => string {
  const masker = new StreamMasker(secrets);
  if (!masker.isActive) return (text) => text;
  // push() then flush() leaves nothing held, so one masker serves every text.
  return (text) => Buffer.concat([masker.push(Buffer.from(text, 'utf8')), masker.flush()]).toString('utf8');
}

/**
 * Masks secrets in a byte stream delivered in chunks. A secret split across two chunks is still masked:
 * the end of a chunk that could be the start of a secret is held back until the next chunk or the end.
 * Nothing else is held, so output that cannot be a secret is never delayed.
 */
export class StreamMasker {
  private readonly patterns: Buffer[];
  private readonly holdBytes: number;
  /** 1 for every byte value some pattern starts with. */
  private readonly startsPattern = new Uint8Array(256);
  private pending: Buffer = Buffer.alloc(0);

  constructor(secrets: readonly string[]) {
    const variants = new Set(secrets.flatMap(secretVariants));
    this.patterns = [...variants]
      .map((variant) => Buffer.from(variant, 'utf8'))
      .sort((a, b) => b.length - a.length);
    this.holdBytes = Math.max(0, ...this.patterns.map((pattern) => pattern.length - 1));
    for (const pattern of this.patterns) this.startsPattern[pattern[0] ?? 0] = 1;
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
      // Most bytes start no pattern: one table look-up each, so a flood of small chunks stays cheap.
      if (this.startsPattern[data[start] ?? 0] === 0) continue;
      const tailLength = data.length - start;
      if (
        this.patterns.some(
          (pattern) =>
            pattern.length > tailLength && pattern.compare(data, start, data.length, 0, tailLength) === 0,
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
