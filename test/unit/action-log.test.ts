import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTempDirs, tempDir } from '../support/temp-dirs.js';
import { ActionLog } from '../../src/stages/action-log.js';

const fixedNow = () => new Date('2026-01-02T03:04:05.000Z');

describe('ActionLog', () => {
  afterAll(removeTempDirs);

  it('masks first, then passes output live and stores timestamped lines per stream', async () => {
    const live: string[] = [];
    const log = new ActionLog({
      secrets: ['hunter2'],
      live: (stream, chunk) => {
        live.push(`${stream}:${chunk.toString()}`);
        return Promise.resolve();
      },
      storedBytes: 1024,
      maxLineBytes: 100,
      file: null,
      fileBytes: 0,
      now: fixedNow,
    });
    await log.open();
    await log.write('stdout', Buffer.from('pass hun'));
    await log.write('stdout', Buffer.from('ter2 ok\nsecond'));
    await log.write('stderr', Buffer.from('err\n'));
    await log.close();
    expect(live.join('')).not.toContain('hunter2');
    expect(log.text).toBe(
      '2026-01-02T03:04:05.000Z stdout  pass *** ok\n2026-01-02T03:04:05.000Z stderr  err\n2026-01-02T03:04:05.000Z stdout  second\n',
    );
    // Output that cannot begin a secret went out at once, not held for the next chunk.
    expect(live).toEqual(['stdout:pass ', 'stdout:*** ok\nsecond', 'stderr:err\n']);
  });

  it('writes the full log to a file up to its cap, then says where it was cut off', async () => {
    const file = path.join(await tempDir('action-log'), 'action.log');
    const log = new ActionLog({
      secrets: [],
      live: () => Promise.resolve(),
      storedBytes: 1024,
      maxLineBytes: 100,
      file,
      fileBytes: 100,
      now: fixedNow,
    });
    await log.open();
    for (let i = 0; i < 10; i += 1) await log.write('stdout', Buffer.from(`line ${i}\n`));
    await log.close();
    const text = await readFile(file, 'utf8');
    expect(text).toBe(
      '2026-01-02T03:04:05.000Z stdout  line 0\n2026-01-02T03:04:05.000Z stdout  line 1\n… log file cut off at 100 bytes; the head and tail are kept with the invocation\n',
    );
  });
});
