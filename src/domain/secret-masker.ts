import { PatternAutomaton } from './pattern-automaton.js';

/** What a masked secret is replaced by. */
export const MASK = '***';

/**
 * The shortest base64 run taken from the middle of a stream that is masked: shorter runs would mask
 * innocent text; a secret too short to give one is still masked raw and in its other encodings.
 */
const MIN_BASE64_RUN = 8;

/**
 * The shortest secret whose encoded forms are masked: the hex of `1` is `31`, the base64 of `a` starts `YQ`,
 * the URL-encoding of `/` is `%2F`; masking those would mask every date and every URL. A shorter secret is
 * masked only as it is.
 */
export const MIN_ENCODED_SECRET_CHARS = 6;

/**
 * The forms of a secret an action is likely to print, each masked: the value; base64 and base64url
 * (padded, unpadded, and the part fixed by the secret wherever it starts in a longer stream); hex;
 * URL-encoded as JS `encodeURIComponent` and `URLSearchParams` and Python's `quote`, `quote(safe='')` and
 * `quote_plus` write it; JSON-escaped as JS `JSON.stringify`, Python's `json.dumps` (`\u00e4`, surrogate
 * pairs) and Go's `json.Marshal` (`\u0026`) write it; and the inside of Python's `repr()`, `ascii()` and
 * bytes repr. A secret shorter than MIN_ENCODED_SECRET_CHARS gives only itself.
 */
export function secretVariants(secret: string): string[] {
  if (secret === '') return [];
  if (!hasEncodedForms(secret)) return [secret];
  const bytes = Buffer.from(secret, 'utf8');
  const variants = new Set<string>([
    secret,
    ...lineWrappableVariants(secret),
    ...urlVariants(secret),
    JSON.stringify(secret).slice(1, -1),
    pythonJsonEscape(secret),
    ...goJsonVariants(secret),
    ...pythonReprVariants(secret, bytes),
  ]);
  return [...variants].filter((variant) => variant.length > 0).sort((a, b) => b.length - a.length);
}

function hasEncodedForms(secret: string): boolean {
  // Code points: an emoji is one character.
  return Array.from(secret).length >= MIN_ENCODED_SECRET_CHARS;
}

/**
 * The forms of a secret that tools wrap into lines (base64(1) and Python's `encodebytes` at 76 columns,
 * openssl and PEM at 64, `xxd -p` at 60): base64, base64url and hex. They are also masked across line
 * breaks.
 */
export function lineWrappableVariants(secret: string): string[] {
  if (!hasEncodedForms(secret)) return [];
  const bytes = Buffer.from(secret, 'utf8');
  return [...base64Variants(bytes), bytes.toString('hex'), bytes.toString('hex').toUpperCase()];
}

/**
 * A string's inside as Go's json.Marshal writes it: as JSON.stringify, but with & < > and U+2028, U+2029
 * escaped (HTML-safe), and \b \f as \u0008 \u000c before Go 1.22.
 */
function goJsonVariants(secret: string): string[] {
  const escaped = JSON.stringify(secret)
    .slice(1, -1)
    .replace(/[&<>\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const beforeGo122 = escaped.replace(/\\(.)/g, (escape, letter: string) =>
    letter === 'b' ? '\\u0008' : letter === 'f' ? '\\u000c' : escape,
  );
  return [escaped, beforeGo122];
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
  // The form serializer (URLSearchParams) keeps A-Z a-z 0-9 * - . _ and writes a space as '+'.
  const form = percentEncode(secret, /^[A-Za-z0-9*._-]$/, true);
  const forms = [encodeURIComponent(secret), encodeURI(secret), quote, quoteNoSafe, quotePlus, form];
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

interface MaskerAutomata {
  all: PatternAutomaton | undefined;
  unwrapped: PatternAutomaton | undefined;
}

/** Automata never change: the maskers of one list of secrets (stdout's, stderr's) share them. */
const automataBySecrets = new WeakMap<readonly string[], MaskerAutomata>();

function automataFor(secrets: readonly string[]): MaskerAutomata {
  const known = automataBySecrets.get(secrets);
  if (known !== undefined) return known;
  const patterns = (variants: string[]): Buffer[] =>
    [...new Set(variants)].filter((variant) => variant !== '').map((variant) => Buffer.from(variant));
  const all = patterns(secrets.flatMap(secretVariants));
  const wrappable = patterns(secrets.flatMap(lineWrappableVariants));
  const automata = {
    all: all.length > 0 ? new PatternAutomaton(all) : undefined,
    unwrapped: wrappable.length > 0 ? new PatternAutomaton(wrappable) : undefined,
  };
  automataBySecrets.set(secrets, automata);
  return automata;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * The shortest run of base64 and hex characters ending a line for the line to be joined to the next when
 * looking for a wrapped form: tools wrap at 76 (base64(1), Python's encodebytes), 64 (openssl, PEM) or 60
 * (`xxd -p`) columns. An ordinary line ("step 7") ends the search, so its line break is never held back.
 */
const MIN_WRAPPED_LINE_RUN = 16;

/** 1 for the bytes of base64, base64url and hex. */
const IS_WRAPPABLE = new Uint8Array(256);
for (const char of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_') {
  IS_WRAPPABLE[char.charCodeAt(0)] = 1;
}
const MASK_BYTES = Buffer.from(MASK);

/**
 * Masks secrets in a byte stream delivered in chunks. A secret split across two chunks is still masked:
 * the end of a chunk that could be the start of a secret (for a base64 or hex form, also across line
 * breaks) is held back until the next chunk or the end. Nothing else is held, so output that cannot be a
 * secret is never delayed.
 *
 * Every byte inside some occurrence of some form of a secret is masked; overlapping and adjacent
 * occurrences become one `***`. The base64 and hex forms are also found across line breaks (\n, \r\n)
 * after a line ending in 16 or more base64 or hex characters, as tools wrap them. A masked span keeps its
 * line breaks: each line's part of it becomes `***`.
 * The work is linear in the output, whatever the action prints (Aho–Corasick over every form).
 */
export class StreamMasker {
  /** Every form, over the bytes as they come. */
  private readonly automaton: PatternAutomaton | undefined;
  /** The forms tools wrap into lines, over the bytes without their line breaks. */
  private readonly unwrapped: PatternAutomaton | undefined;
  private state = 0;
  private unwrappedState = 0;
  /** Stream offsets of the last bytes the unwrapped automaton read, a ring as long as its longest form. */
  private readonly unwrappedOffsets: Float64Array;
  private unwrappedRead = 0;
  /** How many base64 or hex characters end the current line so far. */
  private wrappableRun = 0;
  /** The stream offset of the end of what was pushed, and of the start of what is held. */
  private end = 0;
  private heldStart = 0;
  private held: Buffer = Buffer.alloc(0);
  /** Masked spans not yet written, in [heldStart, end): disjoint, in order, as [start, end) pairs. */
  private spans: number[] = [];
  /** Where the last `***` written ends: a span going on from there is not masked a second time. */
  private maskedUntil = -1;

  constructor(secrets: readonly string[]) {
    const automata = automataFor(secrets);
    this.automaton = automata.all;
    this.unwrapped = automata.unwrapped;
    this.unwrappedOffsets = new Float64Array(this.unwrapped?.maxPatternLength ?? 0);
  }

  get isActive(): boolean {
    return this.automaton !== undefined;
  }

  /** Masks what can be decided now and returns it; may hold back a tail. */
  push(chunk: Buffer): Buffer {
    const automaton = this.automaton;
    if (automaton === undefined) return chunk;
    const unwrapped = this.unwrapped;
    const ring = this.unwrappedOffsets;
    let state = this.state;
    let unwrappedState = this.unwrappedState;
    let wrappableRun = this.wrappableRun;
    // The hot loop: most bytes of most output leave both automata at their root, one table look-up each.
    const rootNext = automaton.rootNext;
    const longestMatch = automaton.longestMatch;
    for (let index = 0; index < chunk.length; index += 1) {
      const byte = chunk[index] ?? 0;
      state = state === 0 ? (rootNext[byte] ?? 0) : automaton.next(state, byte);
      if (state !== 0) {
        const length = longestMatch[state] ?? 0;
        if (length > 0) this.addSpan(this.end + index + 1 - length, this.end + index + 1);
      }
      if (unwrapped === undefined) continue;
      if (byte === LF || byte === CR) {
        // Kept through \r\n; a line that does not end like a wrapped block starts the search afresh.
        if (wrappableRun < MIN_WRAPPED_LINE_RUN) unwrappedState = 0;
        if (byte === LF) wrappableRun = 0;
        continue;
      }
      if (IS_WRAPPABLE[byte] !== 1) {
        // No wrappable form holds this byte.
        wrappableRun = 0;
        unwrappedState = 0;
        continue;
      }
      wrappableRun += 1;
      unwrappedState = unwrapped.next(unwrappedState, byte);
      const offset = this.end + index;
      ring[this.unwrappedRead % ring.length] = offset;
      this.unwrappedRead += 1;
      const wrappedLength = unwrapped.longestMatch[unwrappedState] ?? 0;
      if (wrappedLength > 0) {
        this.addSpan(ring[(this.unwrappedRead - wrappedLength) % ring.length] ?? 0, offset + 1);
      }
    }
    this.wrappableRun = wrappableRun;
    this.state = state;
    this.unwrappedState = unwrappedState;
    this.end += chunk.length;
    // The earliest offset where a form not yet complete could start: what comes before is decided.
    let decided = this.end - (automaton.depth[state] ?? 0);
    const unwrappedDepth = unwrapped?.depth[unwrappedState] ?? 0;
    if (unwrappedDepth > 0) {
      decided = Math.min(decided, ring[(this.unwrappedRead - unwrappedDepth) % ring.length] ?? 0);
    }
    const data = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    return this.write(data, decided);
  }

  /** Masks and returns everything held back. */
  flush(): Buffer {
    if (this.automaton === undefined) return Buffer.alloc(0);
    const out = this.write(this.held, this.end);
    // A fresh start: textMasker() serves text after text with one masker.
    this.state = 0;
    this.unwrappedState = 0;
    this.unwrappedRead = 0;
    this.wrappableRun = 0;
    this.end = 0;
    this.heldStart = 0;
    this.maskedUntil = -1;
    return out;
  }

  /** Adds [start, end) to the masked spans; ends come in order, starts may go back. */
  private addSpan(start: number, end: number): void {
    // What comes before heldStart was written: masked, since a form starts there only inside a written span.
    let from = Math.max(start, this.heldStart);
    let to = end;
    if (from >= to) return;
    const spans = this.spans;
    while (spans.length > 0 && (spans[spans.length - 1] ?? 0) >= from) {
      to = Math.max(to, spans.pop() ?? 0);
      from = Math.min(from, spans.pop() ?? 0);
    }
    spans.push(from, to);
  }

  /** Writes `data` (from heldStart) up to `decided`, or to the end of a span going on past it; holds the rest. */
  private write(data: Buffer, decided: number): Buffer {
    const parts: Buffer[] = [];
    const spans = this.spans;
    let cursor = this.heldStart;
    // A form not yet complete may start inside the span written last: what was written stays written.
    let until = Math.max(decided, this.heldStart);
    let written = 0;
    while (written < spans.length && (spans[written] ?? 0) < until) {
      const start = spans[written] ?? 0;
      const end = spans[written + 1] ?? 0;
      parts.push(data.subarray(cursor - this.heldStart, start - this.heldStart));
      this.writeMasked(data, start, end, parts);
      cursor = end;
      until = Math.max(until, end);
      written += 2;
    }
    spans.splice(0, written);
    parts.push(data.subarray(cursor - this.heldStart, until - this.heldStart));
    this.held = data.subarray(until - this.heldStart);
    this.heldStart = until;
    return parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts);
  }

  /** Writes the span [start, end) of `data` as `***`, one for each line's part, keeping the line breaks. */
  private writeMasked(data: Buffer, start: number, end: number, parts: Buffer[]): void {
    let runStart = start;
    for (let offset = start; offset <= end; offset += 1) {
      const byte = offset < end ? data[offset - this.heldStart] : undefined;
      if (byte !== undefined && byte !== LF && byte !== CR) continue;
      if (offset > runStart) {
        if (runStart !== this.maskedUntil) parts.push(MASK_BYTES);
        this.maskedUntil = offset;
      }
      if (byte !== undefined) parts.push(data.subarray(offset - this.heldStart, offset - this.heldStart + 1));
      runStart = offset + 1;
    }
  }
}
