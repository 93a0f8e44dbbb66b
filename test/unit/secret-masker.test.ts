import { describe, expect, it } from 'vitest';
import { MASK, StreamMasker, secretVariants } from '../../src/domain/secret-masker.js';

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
