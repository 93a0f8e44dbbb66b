import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { demuxStream } from '../../src/adapters/docker/demux-stream.js';

function frame(type: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('demuxStream', () => {
  it('splits stdout and stderr frames, however the bytes are chunked', async () => {
    const bytes = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, 'out two\n')]);
    for (const chunkSize of [1, 3, 8, 9, bytes.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
      const seen: string[] = [];
      await demuxStream(Readable.from(chunks), (stream, payload) => {
        seen.push(`${stream}:${payload.toString()}`);
        return Promise.resolve();
      });
      expect(seen).toEqual(['stdout:out one\n', 'stderr:err\n', 'stdout:out two\n']);
    }
  });

  it('waits for the consumer before reading on', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const frames = Array.from({ length: 20 }, (_, i) => frame(1, `line ${i}\n`));
    await demuxStream(Readable.from(frames), async () => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
    });
    expect(maxInFlight).toBe(1);
  });
});
