/**
 * Cuts text into pieces whose UTF-8 encoding is at most `maxBytes` long, on character boundaries only, so
 * each piece decodes on its own. A character longer than `maxBytes` (which only a cap under 4 allows) makes
 * a piece of its own rather than being cut.
 */
export function splitUtf8(text: string, maxBytes: number): string[] {
  const encoded = Buffer.from(text, 'utf8');
  const pieces: string[] = [];
  let start = 0;
  while (start < encoded.length) {
    let end = Math.min(start + maxBytes, encoded.length);
    // Back off to the start of the character the cut falls in: continuation bytes are 10xxxxxx.
    while (end < encoded.length && end > start && isContinuation(encoded[end])) end -= 1;
    if (end === start) {
      end += 1;
      while (end < encoded.length && isContinuation(encoded[end])) end += 1;
    }
    pieces.push(encoded.toString('utf8', start, end));
    start = end;
  }
  return pieces;
}

function isContinuation(byte: number | undefined): boolean {
  return byte !== undefined && (byte & 0xc0) === 0x80;
}
