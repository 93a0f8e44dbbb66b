import { describe, expect, it } from 'vitest';
import { transferProgress } from '../../src/cli/transfer-progress.js';

const MIB = 1024 * 1024;

function fakeStream(isTTY: boolean) {
  const written: string[] = [];
  const stream = {
    isTTY,
    write: (text: string) => {
      written.push(text);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe('transferProgress off a terminal', () => {
  it('says nothing for small transfers', () => {
    const { stream, written } = fakeStream(false);
    const progress = transferProgress(stream);
    progress.planned('upload', MIB);
    progress.moved('upload', MIB);
    expect(written).toEqual([]);
  });

  it('writes plain, throttled lines and always the last one', () => {
    const { stream, written } = fakeStream(false);
    const progress = transferProgress(stream, MIB);
    progress.planned('upload', 100 * MIB);
    for (let i = 0; i < 100; i += 1) progress.moved('upload', MIB);
    // The first chunk, then nothing for a while (throttled), then completion.
    expect(written).toHaveLength(2);
    expect(written[0]).toMatch(/^action-worker: upload 1\/100 MiB \([\d.]+ MiB\/s\)\n$/);
    expect(written[1]).toMatch(/^action-worker: upload 100\/100 MiB/);
  });
});
