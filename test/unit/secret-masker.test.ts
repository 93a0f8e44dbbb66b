import { describe, expect, it } from 'vitest';
import {
  MASK,
  StreamMasker,
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
    const variants = secretVariants('a b');
    expect(variants).toContain('a b');
    expect(variants).toContain('a%20b');
    expect(variants).toContain(Buffer.from('a b').toString('base64'));
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
  ['JSON.stringify', secret, JSON.stringify(secret), `"${MASK}"`],
  ['JSON.stringify in an object', secret, JSON.stringify({ token: secret }), `{"token":"${MASK}"}`],
]);

describe('StreamMasker, over every encoding', () => {
  it.each([...PRINTED_BY_PYTHON, ...PRINTED_BY_JS])(
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
