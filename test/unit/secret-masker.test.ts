import { describe, expect, it } from 'vitest';
import {
  MASK,
  StreamMasker,
  lineWrappableVariants,
  maskedError,
  secretVariants,
  textMasker,
} from '../../src/domain/secret-masker.js';

function run(secrets: string[], chunks: string[]): string {
  const masker = new StreamMasker(secrets);
  const parts = chunks.map((chunk) => masker.push(Buffer.from(chunk)).toString());
  return parts.join('') + masker.flush().toString();
}

describe('StreamMasker', () => {
  it('masks a secret inside one chunk', () => {
    expect(run(['hunter2'], ['password is hunter2!\n'])).toBe(`password is ${MASK}!\n`);
  });

  it('masks a secret split across chunks, at every split point', () => {
    const text = 'before sk-live-0123456789 after';
    for (let split = 1; split < text.length; split += 1) {
      expect(run(['sk-live-0123456789'], [text.slice(0, split), text.slice(split)])).toBe(
        `before ${MASK} after`,
      );
    }
  });

  it('masks a secret delivered one byte at a time', () => {
    expect(run(['abc123'], Array.from('x abc123 y'))).toBe(`x ${MASK} y`);
  });

  it('masks the base64, URL-encoded and JSON-escaped forms', () => {
    const secret = 'p@ss/w"rd';
    const base64 = Buffer.from(secret).toString('base64');
    const output = run([secret], [`${base64} ${encodeURIComponent(secret)} ${JSON.stringify(secret)}`]);
    expect(output).not.toContain(base64);
    expect(output).not.toContain(encodeURIComponent(secret));
    expect(output).toBe(`${MASK} ${MASK} "${MASK}"`);
  });

  it('masks several secrets and passes everything else through unchanged', () => {
    expect(run(['one', 'three'], ['one two three'])).toBe(`${MASK} two ${MASK}`);
    expect(run([], ['nothing to hide'])).toBe('nothing to hide');
  });

  it('keeps multi-byte characters whole', () => {
    expect(run(['clé'], ['é clé é'])).toBe(`é ${MASK} é`);
  });
});

describe('secretVariants', () => {
  it('lists longest first and never the empty string', () => {
    // At least MIN_ENCODED_SECRET_CHARS long: a shorter secret gives only itself (tested below).
    const variants = secretVariants('a b c d');
    expect(variants).toContain('a b c d');
    expect(variants).toContain('a%20b%20c%20d');
    expect(variants).toContain(Buffer.from('a b c d').toString('base64'));
    expect(secretVariants('')).toEqual([]);
    expect([...variants].sort((x, y) => y.length - x.length)).toEqual(variants);
  });
});

/**
 * Every encoding of a secret an action is likely to print, as the encoder itself writes it: the rows are
 * Python's own output (urllib.parse, json, repr, ascii, base64, bytes.hex), generated once and pasted here.
 * [encoding, secret, what the action prints, what must be left of it]
 */
const PRINTED_BY_PYTHON: [string, string, string, string][] = [
  ['Python quote()', 'p@ss w0rd/with+sp\u00e4cial', 'p%40ss%20w0rd/with%2Bsp%C3%A4cial', '***'],
  ["Python quote(safe='')", 'p@ss w0rd/with+sp\u00e4cial', 'p%40ss%20w0rd%2Fwith%2Bsp%C3%A4cial', '***'],
  ['Python quote_plus()', 'p@ss w0rd/with+sp\u00e4cial', 'p%40ss+w0rd%2Fwith%2Bsp%C3%A4cial', '***'],
  ['Python json.dumps()', 'p@ss w0rd/with+sp\u00e4cial', '"p@ss w0rd/with+sp\\u00e4cial"', '"***"'],
  [
    'Python json.dumps(ensure_ascii=False)',
    'p@ss w0rd/with+sp\u00e4cial',
    '"p@ss w0rd/with+sp\u00e4cial"',
    '"***"',
  ],
  ['Python repr()', 'p@ss w0rd/with+sp\u00e4cial', "'p@ss w0rd/with+sp\u00e4cial'", "'***'"],
  ['Python ascii()', 'p@ss w0rd/with+sp\u00e4cial', "'p@ss w0rd/with+sp\\xe4cial'", "'***'"],
  [
    'Python repr() of the UTF-8 bytes',
    'p@ss w0rd/with+sp\u00e4cial',
    "b'p@ss w0rd/with+sp\\xc3\\xa4cial'",
    "b'***'",
  ],
  ['hex', 'p@ss w0rd/with+sp\u00e4cial', '7040737320773072642f776974682b7370c3a46369616c', '***'],
  ['HEX', 'p@ss w0rd/with+sp\u00e4cial', '7040737320773072642F776974682B7370C3A46369616C', '***'],
  ['base64', 'p@ss w0rd/with+sp\u00e4cial', 'cEBzcyB3MHJkL3dpdGgrc3DDpGNpYWw=', '***'],
  ['base64 unpadded', 'p@ss w0rd/with+sp\u00e4cial', 'cEBzcyB3MHJkL3dpdGgrc3DDpGNpYWw', '***'],
  ['base64url', 'p@ss w0rd/with+sp\u00e4cial', 'cEBzcyB3MHJkL3dpdGgrc3DDpGNpYWw=', '***'],
  ['base64url unpadded', 'p@ss w0rd/with+sp\u00e4cial', 'cEBzcyB3MHJkL3dpdGgrc3DDpGNpYWw', '***'],
  ['Python quote()', 't\u00f6k"en\'s \ud83d\ude00 key', 't%C3%B6k%22en%27s%20%F0%9F%98%80%20key', '***'],
  [
    "Python quote(safe='')",
    't\u00f6k"en\'s \ud83d\ude00 key',
    't%C3%B6k%22en%27s%20%F0%9F%98%80%20key',
    '***',
  ],
  ['Python quote_plus()', 't\u00f6k"en\'s \ud83d\ude00 key', 't%C3%B6k%22en%27s+%F0%9F%98%80+key', '***'],
  [
    'Python json.dumps()',
    't\u00f6k"en\'s \ud83d\ude00 key',
    '"t\\u00f6k\\"en\'s \\ud83d\\ude00 key"',
    '"***"',
  ],
  [
    'Python json.dumps(ensure_ascii=False)',
    't\u00f6k"en\'s \ud83d\ude00 key',
    '"t\u00f6k\\"en\'s \ud83d\ude00 key"',
    '"***"',
  ],
  ['Python repr()', 't\u00f6k"en\'s \ud83d\ude00 key', "'t\u00f6k\"en\\'s \ud83d\ude00 key'", "'***'"],
  ['Python ascii()', 't\u00f6k"en\'s \ud83d\ude00 key', "'t\\xf6k\"en\\'s \\U0001f600 key'", "'***'"],
  [
    'Python repr() of the UTF-8 bytes',
    't\u00f6k"en\'s \ud83d\ude00 key',
    "b't\\xc3\\xb6k\"en\\'s \\xf0\\x9f\\x98\\x80 key'",
    "b'***'",
  ],
  ['hex', 't\u00f6k"en\'s \ud83d\ude00 key', '74c3b66b22656e277320f09f9880206b6579', '***'],
  ['HEX', 't\u00f6k"en\'s \ud83d\ude00 key', '74C3B66B22656E277320F09F9880206B6579', '***'],
  ['base64', 't\u00f6k"en\'s \ud83d\ude00 key', 'dMO2ayJlbidzIPCfmIAga2V5', '***'],
  ['base64 unpadded', 't\u00f6k"en\'s \ud83d\ude00 key', 'dMO2ayJlbidzIPCfmIAga2V5', '***'],
  ['base64url', 't\u00f6k"en\'s \ud83d\ude00 key', 'dMO2ayJlbidzIPCfmIAga2V5', '***'],
  ['base64url unpadded', 't\u00f6k"en\'s \ud83d\ude00 key', 'dMO2ayJlbidzIPCfmIAga2V5', '***'],
  ['Python quote()', 'C:\\dir\\x\ttab', 'C%3A%5Cdir%5Cx%09tab', '***'],
  ["Python quote(safe='')", 'C:\\dir\\x\ttab', 'C%3A%5Cdir%5Cx%09tab', '***'],
  ['Python quote_plus()', 'C:\\dir\\x\ttab', 'C%3A%5Cdir%5Cx%09tab', '***'],
  ['Python json.dumps()', 'C:\\dir\\x\ttab', '"C:\\\\dir\\\\x\\ttab"', '"***"'],
  ['Python json.dumps(ensure_ascii=False)', 'C:\\dir\\x\ttab', '"C:\\\\dir\\\\x\\ttab"', '"***"'],
  ['Python repr()', 'C:\\dir\\x\ttab', "'C:\\\\dir\\\\x\\ttab'", "'***'"],
  ['Python ascii()', 'C:\\dir\\x\ttab', "'C:\\\\dir\\\\x\\ttab'", "'***'"],
  ['Python repr() of the UTF-8 bytes', 'C:\\dir\\x\ttab', "b'C:\\\\dir\\\\x\\ttab'", "b'***'"],
  ['hex', 'C:\\dir\\x\ttab', '433a5c6469725c7809746162', '***'],
  ['HEX', 'C:\\dir\\x\ttab', '433A5C6469725C7809746162', '***'],
  ['base64', 'C:\\dir\\x\ttab', 'QzpcZGlyXHgJdGFi', '***'],
  ['base64 unpadded', 'C:\\dir\\x\ttab', 'QzpcZGlyXHgJdGFi', '***'],
  ['base64url', 'C:\\dir\\x\ttab', 'QzpcZGlyXHgJdGFi', '***'],
  ['base64url unpadded', 'C:\\dir\\x\ttab', 'QzpcZGlyXHgJdGFi', '***'],
  [
    'Python quote()',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    '%C3%BCmlaut-only-%C3%A4%C3%A4%C3%A4%C3%A4',
    '***',
  ],
  [
    "Python quote(safe='')",
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    '%C3%BCmlaut-only-%C3%A4%C3%A4%C3%A4%C3%A4',
    '***',
  ],
  [
    'Python quote_plus()',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    '%C3%BCmlaut-only-%C3%A4%C3%A4%C3%A4%C3%A4',
    '***',
  ],
  [
    'Python json.dumps()',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    '"\\u00fcmlaut-only-\\u00e4\\u00e4\\u00e4\\u00e4"',
    '"***"',
  ],
  [
    'Python json.dumps(ensure_ascii=False)',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    '"\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4"',
    '"***"',
  ],
  [
    'Python repr()',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    "'\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4'",
    "'***'",
  ],
  [
    'Python ascii()',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    "'\\xfcmlaut-only-\\xe4\\xe4\\xe4\\xe4'",
    "'***'",
  ],
  [
    'Python repr() of the UTF-8 bytes',
    '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4',
    "b'\\xc3\\xbcmlaut-only-\\xc3\\xa4\\xc3\\xa4\\xc3\\xa4\\xc3\\xa4'",
    "b'***'",
  ],
  ['hex', '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4', 'c3bc6d6c6175742d6f6e6c792dc3a4c3a4c3a4c3a4', '***'],
  ['HEX', '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4', 'C3BC6D6C6175742D6F6E6C792DC3A4C3A4C3A4C3A4', '***'],
  ['base64', '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4', 'w7xtbGF1dC1vbmx5LcOkw6TDpMOk', '***'],
  ['base64 unpadded', '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4', 'w7xtbGF1dC1vbmx5LcOkw6TDpMOk', '***'],
  ['base64url', '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4', 'w7xtbGF1dC1vbmx5LcOkw6TDpMOk', '***'],
  ['base64url unpadded', '\u00fcmlaut-only-\u00e4\u00e4\u00e4\u00e4', 'w7xtbGF1dC1vbmx5LcOkw6TDpMOk', '***'],
  ['Python quote()', 'sk>>?~\u00fc?>/+ end', 'sk%3E%3E%3F~%C3%BC%3F%3E/%2B%20end', '***'],
  ["Python quote(safe='')", 'sk>>?~\u00fc?>/+ end', 'sk%3E%3E%3F~%C3%BC%3F%3E%2F%2B%20end', '***'],
  ['Python quote_plus()', 'sk>>?~\u00fc?>/+ end', 'sk%3E%3E%3F~%C3%BC%3F%3E%2F%2B+end', '***'],
  ['Python json.dumps()', 'sk>>?~\u00fc?>/+ end', '"sk>>?~\\u00fc?>/+ end"', '"***"'],
  ['Python json.dumps(ensure_ascii=False)', 'sk>>?~\u00fc?>/+ end', '"sk>>?~\u00fc?>/+ end"', '"***"'],
  ['Python repr()', 'sk>>?~\u00fc?>/+ end', "'sk>>?~\u00fc?>/+ end'", "'***'"],
  ['Python ascii()', 'sk>>?~\u00fc?>/+ end', "'sk>>?~\\xfc?>/+ end'", "'***'"],
  ['Python repr() of the UTF-8 bytes', 'sk>>?~\u00fc?>/+ end', "b'sk>>?~\\xc3\\xbc?>/+ end'", "b'***'"],
  ['hex', 'sk>>?~\u00fc?>/+ end', '736b3e3e3f7ec3bc3f3e2f2b20656e64', '***'],
  ['HEX', 'sk>>?~\u00fc?>/+ end', '736B3E3E3F7EC3BC3F3E2F2B20656E64', '***'],
  ['base64', 'sk>>?~\u00fc?>/+ end', 'c2s+Pj9+w7w/Pi8rIGVuZA==', '***'],
  ['base64 unpadded', 'sk>>?~\u00fc?>/+ end', 'c2s+Pj9+w7w/Pi8rIGVuZA', '***'],
  ['base64url', 'sk>>?~\u00fc?>/+ end', 'c2s-Pj9-w7w_Pi8rIGVuZA==', '***'],
  ['base64url unpadded', 'sk>>?~\u00fc?>/+ end', 'c2s-Pj9-w7w_Pi8rIGVuZA', '***'],
];

/** The same secrets through the encoders of JavaScript. */
const SECRETS = [...new Set(PRINTED_BY_PYTHON.map(([, secret]) => secret))];
const PRINTED_BY_JS: [string, string, string, string][] = SECRETS.flatMap((secret) => [
  ['encodeURIComponent', secret, encodeURIComponent(secret), MASK],
  // The form serializer: '~' becomes %7E, '*' stays, a space becomes '+'.
  ['URLSearchParams', secret, new URLSearchParams({ token: secret }).toString(), `token=${MASK}`],
  ['JSON.stringify', secret, JSON.stringify(secret), `"${MASK}"`],
  ['JSON.stringify in an object', secret, JSON.stringify({ token: secret }), `{"token":"${MASK}"}`],
]);

/** Go's json.Marshal escapes & < > (and U+2028, U+2029) as \u0026 \u003c \u003e, written out by hand. */
const PRINTED_BY_GO: [string, string, string, string][] = [
  [
    'Go json.Marshal',
    'sk>>?~\u00fc?>/+ end',
    '{"token":"sk\\u003e\\u003e?~\u00fc?\\u003e/+ end"}',
    `{"token":"${MASK}"}`,
  ],
  ['Go json.Marshal', 'a&b<c>d tok', '{"token":"a\\u0026b\\u003cc\\u003ed tok"}', `{"token":"${MASK}"}`],
  ['Go json.Marshal', 'line\u2028sep', '"line\\u2028sep"', `"${MASK}"`],
];

describe('StreamMasker, over every encoding', () => {
  it.each([...PRINTED_BY_PYTHON, ...PRINTED_BY_JS, ...PRINTED_BY_GO])(
    'masks %s of %j',
    (_encoding, secret, printed, expected) => {
      const text = `before ${printed} after\n`;
      expect(run([secret], [text])).toBe(`before ${expected} after\n`);
      // And wherever a chunk boundary falls inside it.
      const bytes = Buffer.from(text);
      for (let split = 1; split < bytes.length; split += 1) {
        const masker = new StreamMasker([secret]);
        const out = Buffer.concat([
          masker.push(bytes.subarray(0, split)),
          masker.push(bytes.subarray(split)),
          masker.flush(),
        ]).toString();
        expect(out).toBe(`before ${expected} after\n`);
      }
    },
  );

  // A secret in the middle of a base64 stream starts at byte offset 0, 1 or 2 of a 3-byte group: each
  // gives different characters. Only those mixing the secret's bits with its neighbours' may remain.
  const encodings = ['base64', 'base64url'] as const;
  it.each(
    SECRETS.flatMap((secret) => [0, 1, 2].flatMap((offset) => encodings.map((e) => [secret, offset, e]))),
  )('masks %j inside a %s stream at byte offset %i', (secret, offset, encoding) => {
    const before = Buffer.from('leading bytes'.slice(0, 12 + Number(offset)));
    const after = Buffer.from(' trailing');
    const secretBytes = Buffer.from(String(secret));
    const stream = Buffer.concat([before, secretBytes, after]).toString(encoding as BufferEncoding);
    const masked = run([String(secret)], [`data: ${stream}\n`]);
    expect(masked).toContain(MASK);
    const [head, tail] = masked.slice('data: '.length, -1).split(MASK);
    // Characters fully fixed by the surrounding bytes, plus the one shared with the secret, at most.
    const startBits = before.length * 8;
    const endBits = startBits + secretBytes.length * 8;
    expect(head!.length).toBeLessThanOrEqual(Math.ceil(startBits / 6));
    expect(tail!.length).toBeLessThanOrEqual(stream.length - Math.floor(endBits / 6));
    expect(Buffer.concat([before, secretBytes, after]).toString(encoding as BufferEncoding)).toBe(stream);
  });

  it('does not mask short runs of base64 that a short secret would give in the middle of a stream', () => {
    // "abc" at offset 1 of a stream gives only three fixed characters ("FiY" of "AGFiYw=="): masking those
    // everywhere would mask innocent text.
    expect(run(['abc'], ['xFiYx'])).toBe('xFiYx');
  });
});

describe('textMasker', () => {
  it('masks whole texts, one after the other, and returns them unchanged without secrets', () => {
    const mask = textMasker(['hunter2']);
    expect(mask(`field "hunter2" at 3`)).toBe(`field "${MASK}" at 3`);
    expect(mask('ends with hunt')).toBe('ends with hunt');
    expect(mask('hunter2')).toBe(MASK);
    expect(textMasker([])('hunter2')).toBe('hunter2');
  });
});

describe('maskedError', () => {
  it('masks the message and stack of an error quoting a path the action named, keeping its code', () => {
    const error = Object.assign(new Error("EACCES: permission denied, open '/ws/output/hunter2.txt'"), {
      code: 'EACCES',
    });
    const masked = maskedError(error, textMasker(['hunter2']));
    expect(JSON.stringify(masked)).not.toContain('hunter2');
    expect(masked).toMatchObject({
      type: 'Error',
      code: 'EACCES',
      message: `EACCES: permission denied, open '/ws/output/${MASK}.txt'`,
    });
  });

  it('returns an error with nothing to mask as it is', () => {
    const error = new Error('nothing secret');
    expect(maskedError(error, textMasker(['hunter2']))).toBe(error);
  });
});

/** Wraps text at `columns` as base64(1) and openssl do, with `eol` after every line but the last. */
function wrap(text: string, columns: number, eol: string): string {
  const lines: string[] = [];
  for (let start = 0; start < text.length; start += columns) lines.push(text.slice(start, start + columns));
  return lines.join(eol);
}

/** `wrapped` with its characters of unwrapped index in [from, to) masked, line by line, line breaks kept. */
function maskedWrapped(wrapped: string, from: number, to: number): string {
  let out = '';
  let index = 0;
  let isMasking = false;
  for (const char of wrapped) {
    if (char === '\r' || char === '\n') {
      out += char;
      isMasking = false;
      continue;
    }
    if (index >= from && index < to) {
      if (!isMasking) out += MASK;
      isMasking = true;
    } else {
      out += char;
      isMasking = false;
    }
    index += 1;
  }
  return out;
}

describe('StreamMasker, over base64 wrapped into lines', () => {
  const secret = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc9a8f2B';
  const json = Buffer.from(JSON.stringify({ user: 'alice', token: secret }));
  const offset = json.indexOf(secret);

  it.each([
    [76, '\n'],
    [76, '\r\n'],
    [64, '\n'],
    [64, '\r\n'],
  ])(
    'masks a secret crossing a line break of base64 wrapped at %i columns (%j), at every chunk split',
    (columns, eol) => {
      const encoded = json.toString('base64');
      // The characters whose six bits all come from the secret.
      const from = Math.ceil((8 * offset) / 6);
      const to = Math.floor((8 * (offset + secret.length)) / 6);
      const wrapped = `${wrap(encoded, columns, eol)}${eol}`;
      // The run does cross a line break: the attack of the review.
      expect(Math.floor(from / columns)).toBeLessThan(Math.floor((to - 1) / columns));
      const expected = maskedWrapped(wrapped, from, to);
      expect(run([secret], [wrapped])).toBe(expected);
      expect(textMasker([secret])(wrapped)).toBe(expected);
      const bytes = Buffer.from(wrapped);
      for (let split = 1; split < bytes.length; split += 1) {
        const masker = new StreamMasker([secret]);
        const out = Buffer.concat([
          masker.push(bytes.subarray(0, split)),
          masker.push(bytes.subarray(split)),
          masker.flush(),
        ]).toString();
        expect(out).toBe(expected);
      }
      // Nothing left decodes to the secret, or to a long piece of it.
      const left = Buffer.from(expected.replaceAll(MASK, '').replace(/\r?\n/g, ''), 'base64').toString(
        'latin1',
      );
      expect(left).not.toContain(secret.slice(0, 8));
      expect(left).not.toContain(secret.slice(-8));
    },
  );

  it('masks a whole base64 and hex form of a secret wrapped at 16 columns, delivered byte by byte', () => {
    const base64 = Buffer.from(secret).toString('base64');
    const hex = Buffer.from(secret).toString('hex');
    for (const form of [base64, hex]) {
      const wrapped = `${wrap(form, 16, '\n')}\n`;
      const out = run([secret], Array.from(wrapped));
      expect(out).toBe(maskedWrapped(wrapped, 0, form.length));
    }
  });

  it('does not join lines for the secret itself, only for its base64 and hex forms', () => {
    expect(run(['hunter2-pass'], ['hunter2\n-pass\n'])).toBe('hunter2\n-pass\n');
  });

  it('holds no line break back after a line that does not end like a wrapped block', () => {
    // '7' begins the hex of the secret (736b…): a line ending in it is written at once, line break included.
    const masker = new StreamMasker([secret]);
    expect(masker.push(Buffer.from('step 7\n')).toString()).toBe('step 7\n');
    expect(masker.push(Buffer.from('done 36\r\n')).toString()).toBe('done 36\r\n');
    // A line ending in 16 base64 characters may go on in the next: its end that could begin a form waits.
    const block = `${'A'.repeat(15)}c\n`;
    expect(masker.push(Buffer.from(block)).toString()).toBe('A'.repeat(15));
    expect(masker.flush().toString()).toBe('c\n');
  });
});

describe('StreamMasker, with short secrets', () => {
  it('masks a secret shorter than 6 characters as it is, and none of its encoded forms', () => {
    // The hex of "1" is "31", of "a" is "61": masking those would mask every date and every number.
    expect(run(['a'], ['61 YQ== 0x61 %61 a\n'])).toBe(`61 YQ== 0x61 %61 ${MASK}\n`);
    expect(run(['1'], ['2031-03-13\n'])).toBe(`203${MASK}-03-${MASK}3\n`);
    expect(secretVariants('a b')).toEqual(['a b']);
    expect(secretVariants('abcde')).toEqual(['abcde']);
    expect(run(['abcde'], ['6162636465 YWJjZGU='])).toBe('6162636465 YWJjZGU=');
  });

  it('masks the encoded forms from 6 characters on', () => {
    expect(run(['abcdef'], ['616263646566 YWJjZGVm abcdef'])).toBe(`${MASK} ${MASK} ${MASK}`);
    expect(secretVariants('a b c d')).toContain('a%20b%20c%20d');
  });
});

describe('StreamMasker, against an action printing its secret over and over', () => {
  /** Masks `text` in 64 KiB chunks as the engine delivers them; the milliseconds it took. */
  function timeMasking(secrets: string[], text: string): { out: string; ms: number } {
    const started = performance.now();
    const masker = new StreamMasker(secrets);
    const bytes = Buffer.from(text);
    const parts: Buffer[] = [];
    for (let start = 0; start < bytes.length; start += 65_536) {
      parts.push(masker.push(bytes.subarray(start, start + 65_536)));
    }
    parts.push(masker.flush());
    return { out: Buffer.concat(parts).toString(), ms: performance.now() - started };
  }

  const MiB = 1024 * 1024;
  // Generous bounds for a loaded machine: the quadratic masker took 2.9 s for 240 KB of one of these.
  it.each([
    ['an 11-character secret', ['hunter2-abc'], 'hunter2-abc'],
    ['a 1-character secret', ['a'], 'a'],
    ['a 2-character prefix of the secret', ['sk_live_4eC39HqLyjWD'], 'sk'],
    ['the secret with a newline', ['hunter2-abc'], 'hunter2-abc\n'],
    ['base64 of the secret, wrapped', ['hunter2-abc'], `${Buffer.from('hunter2-abc').toString('base64')}\n`],
  ])('masks 1 MiB of %s repeated in well under a second', (_name, secrets, unit) => {
    const text = unit.repeat(Math.ceil(MiB / unit.length));
    const { out, ms } = timeMasking(secrets, text);
    expect(ms).toBeLessThan(1000);
    if (unit !== 'sk') expect(out).not.toContain(secrets[0]);
    const whole = performance.now();
    textMasker(secrets)(text);
    expect(performance.now() - whole).toBeLessThan(1000);
  });
});

/**
 * The masking rule spelled out by brute force: every byte inside an occurrence of a form (the base64 and
 * hex forms also across the line breaks of wrapped blocks) is masked, one `***` per run of masked bytes on
 * a line.
 */
function maskedByReference(secrets: string[], text: Buffer): string {
  const isLineBreak = (byte: number | undefined): boolean => byte === 0x0a || byte === 0x0d;
  const isCovered = new Uint8Array(text.length);
  for (const form of new Set(secrets.flatMap(secretVariants))) {
    const pattern = Buffer.from(form);
    for (let at = text.indexOf(pattern); at !== -1; at = text.indexOf(pattern, at + 1)) {
      isCovered.fill(1, at, at + pattern.length);
    }
  }
  // Lines are joined after a run of 16 base64 or hex characters; elsewhere a line break stops a form (-1).
  const offsets: number[] = [];
  let run = 0;
  text.forEach((byte, offset) => {
    if (isLineBreak(byte)) {
      if (run < 16 && offsets.at(-1) !== -1) offsets.push(-1);
      if (byte === 0x0a) run = 0;
    } else {
      run = /[A-Za-z0-9+/=_-]/.test(String.fromCharCode(byte)) ? run + 1 : 0;
      offsets.push(offset);
    }
  });
  const unwrapped = Buffer.from(offsets.map((offset) => (offset === -1 ? 0 : text[offset]!)));
  for (const form of new Set(secrets.flatMap(lineWrappableVariants))) {
    const pattern = Buffer.from(form);
    for (let at = unwrapped.indexOf(pattern); at !== -1; at = unwrapped.indexOf(pattern, at + 1)) {
      isCovered.fill(1, offsets[at], offsets[at + pattern.length - 1]! + 1);
    }
  }
  const out: Buffer[] = [];
  for (let offset = 0; offset < text.length; offset += 1) {
    if (isCovered[offset] === 1 && !isLineBreak(text[offset])) {
      const goesOn = offset > 0 && isCovered[offset - 1] === 1 && !isLineBreak(text[offset - 1]);
      if (!goesOn) out.push(Buffer.from(MASK));
    } else {
      out.push(text.subarray(offset, offset + 1));
    }
  }
  return Buffer.concat(out).toString('latin1');
}

describe('StreamMasker, against a brute-force reference', () => {
  /** Masks `text` pushed in chunks of the given sizes (cycled). */
  function maskedInChunks(secrets: string[], text: Buffer, sizes: number[]): string {
    const masker = new StreamMasker(secrets);
    const parts: Buffer[] = [];
    for (let start = 0, index = 0; start < text.length; index += 1) {
      const size = sizes[index % sizes.length]!;
      parts.push(masker.push(text.subarray(start, start + size)));
      start += size;
    }
    parts.push(masker.flush());
    return Buffer.concat(parts).toString('latin1');
  }

  it('masks the same bytes when a form starts inside the span just written', () => {
    // Found by the comparison below: the last "a" was written unmasked.
    const text = Buffer.from('a\r\naaaaa');
    expect(maskedInChunks(['aaa'], text, [1])).toBe(maskedByReference(['aaa'], text));
    expect(maskedByReference(['aaa'], text)).toBe(`a\r\n${MASK}`);
  });

  it('masks the same bytes as the reference, over overlapping forms and random chunks', () => {
    let seed = 12_345;
    const random = (below: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % below;
    };
    const alphabet = ['a', 'b', 'Y', 'W', '\n', 'J', 'i', '6', '1', '\r'];
    for (let round = 0; round < 2000; round += 1) {
      const secrets = Array.from({ length: 1 + random(2) }, () =>
        Array.from({ length: 1 + random(14) }, () => alphabet[random(4)]!).join(''),
      );
      const forms = secrets.flatMap(secretVariants);
      let text = '';
      for (let piece = 1 + random(8); piece > 0; piece -= 1) {
        if (random(2) === 0) {
          const form = forms[random(forms.length)]!;
          const cut = random(form.length);
          text +=
            random(3) === 0 ? `${form.slice(0, cut)}${random(2) ? '\n' : '\r\n'}${form.slice(cut)}` : form;
        } else {
          text += Array.from({ length: random(5) }, () => alphabet[random(alphabet.length)]).join('');
        }
      }
      const bytes = Buffer.from(text, 'latin1');
      const sizes = Array.from({ length: 4 }, () => 1 + random(6));
      expect({ secrets, text, out: maskedInChunks(secrets, bytes, sizes) }).toEqual({
        secrets,
        text,
        out: maskedByReference(secrets, bytes),
      });
    }
  });
});
