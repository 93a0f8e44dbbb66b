/**
 * Python `str()` and `repr()` semantics for JSON values, as the Roboto SDK applies them to parameter
 * defaults and supplied values (spec §5.1): `5` → "5", `1.0` → "1.0", `true` → "True",
 * `[1, "x"]` → "[1, 'x']", `{"a": 1}` → "{'a': 1}".
 *
 * JSON numbers lose the difference between `1` and `1.0` in `JSON.parse`. Callers that have the raw
 * token (a lossless parser) pass a {@link RawNumber}; plain JS numbers are read as Python ints when they
 * are integral and as floats otherwise.
 */

/** A JSON number kept as its source token, e.g. from the lossless-json parser. */
export interface RawNumber {
  readonly isLosslessNumber: true;
  readonly value: string;
}

export function isRawNumber(value: unknown): value is RawNumber {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { isLosslessNumber?: unknown }).isLosslessNumber === true &&
    typeof (value as { value?: unknown }).value === 'string'
  );
}

/** Python `str(value)`. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

/** Python `repr(value)` for the Python value a JSON value parses to. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return reprString(value);
  if (typeof value === 'number') return reprJsNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (isRawNumber(value)) return reprNumberToken(value.value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).map(
      ([key, inner]) => `${reprString(key)}: ${pyRepr(inner)}`,
    );
    return `{${entries.join(', ')}}`;
  }
  throw new TypeError(`cannot convert a ${typeof value} to a Python string`);
}

function reprJsNumber(value: number): string {
  if (Number.isInteger(value) && Math.abs(value) < 2 ** 53) return String(value === 0 ? 0 : value);
  return reprFloat(value);
}

/** A JSON number token: integers stay exact (Python ints are unbounded), anything else is a float. */
function reprNumberToken(token: string): string {
  if (/^-?\d+$/.test(token)) {
    const digits = BigInt(token);
    return digits.toString();
  }
  return reprFloat(Number(token));
}

/**
 * Python's `repr(float)`: the shortest round-tripping digits, fixed notation when the decimal exponent
 * is in [-4, 16), scientific otherwise, always with a `.0` or an exponent so it reads as a float.
 */
export function reprFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  // toExponential() with no argument gives the shortest digits that round-trip, like Python's repr.
  const [mantissa = '', exponentText = '0'] = Math.abs(value).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  const decimalPoint = exponent + 1;
  // Python (float_repr_style 'short'): scientific when decpt <= -4 or decpt > 16.
  if (decimalPoint > -4 && decimalPoint <= 16) {
    if (decimalPoint <= 0) return `${sign}0.${'0'.repeat(-decimalPoint)}${digits}`;
    if (decimalPoint >= digits.length) return `${sign}${digits}${'0'.repeat(decimalPoint - digits.length)}.0`;
    return `${sign}${digits.slice(0, decimalPoint)}.${digits.slice(decimalPoint)}`;
  }
  const head = digits.length > 1 ? `${digits[0] ?? ''}.${digits.slice(1)}` : digits;
  const expSign = exponent < 0 ? '-' : '+';
  return `${sign}${head}e${expSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/** Python's `repr(str)`: single quotes unless the text has a single quote and no double quote. */
function reprString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === quote || char === '\\') out += `\\${char}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${hex(code, 2)}`;
    else if (code >= 0x80 && !isPrintable(code)) {
      out +=
        code <= 0xff ? `\\x${hex(code, 2)}` : code <= 0xffff ? `\\u${hex(code, 4)}` : `\\U${hex(code, 8)}`;
    } else out += char;
  }
  return out + quote;
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

/** Approximates Python's str.isprintable for non-ASCII: controls, separators and surrogates are not. */
function isPrintable(code: number): boolean {
  if (code >= 0x80 && code <= 0xa0) return false;
  if (code === 0xad) return false;
  if (code >= 0xd800 && code <= 0xdfff) return false;
  return !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Cn}\p{Co}]/u.test(String.fromCodePoint(code));
}

/**
 * Python `json.dumps(obj, indent=2)` with its defaults (`ensure_ascii=True`, `", "` / `": "`
 * separators) for the parameters and secrets files (spec §4.1, §4.2).
 */
export function pyJsonDumps(
  value: unknown,
  indent = 2,
  level = 0,
  // A Map keeps its insertion order even for integer-like keys, which a plain object would move first.
  orderedEntries?: [unknown, unknown][],
): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : reprFloat(value);
  if (typeof value === 'string') return pyJsonString(value);
  if (value instanceof Map)
    return pyJsonDumps(Object.fromEntries(value), indent, level, [...value.entries()]);
  const pad = ' '.repeat(indent * (level + 1));
  const closePad = ' '.repeat(indent * level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((item) => pad + pyJsonDumps(item, indent, level + 1)).join(',\n')}\n${closePad}]`;
  }
  if (typeof value === 'object') {
    const entries = orderedEntries ?? Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) return '{}';
    const body = entries
      .map(([key, inner]) => `${pad}${pyJsonString(String(key))}: ${pyJsonDumps(inner, indent, level + 1)}`)
      .join(',\n');
    return `{\n${body}\n${closePad}}`;
  }
  throw new TypeError(`cannot serialise a ${typeof value} as JSON`);
}

/** A JSON string literal with every non-ASCII code unit escaped, as Python's ensure_ascii does. */
export function pyJsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    const char = text[i] ?? '';
    if (char === '"') out += '\\"';
    else if (char === '\\') out += '\\\\';
    else if (char === '\n') out += '\\n';
    else if (char === '\r') out += '\\r';
    else if (char === '\t') out += '\\t';
    else if (char === '\b') out += '\\b';
    else if (char === '\f') out += '\\f';
    else if (unit < 0x20 || unit > 0x7e) out += `\\u${hex(unit, 4)}`;
    else out += char;
  }
  return out + '"';
}
