import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportSummary } from '../../src/app/dataset-transfer.js';
import { removeTempDirs, runCli, tempDir } from '../support/harness.js';
import { examplesDir } from '../support/paths.js';

describe('the README example', () => {
  afterAll(removeTempDirs);

  it('builds and runs examples/log-scanner against examples/data and records the metadata', async () => {
    const output = path.join(await tempDir('example'), 'out');
    const cli = await runCli([
      'run',
      path.join(examplesDir, 'log-scanner'),
      '--input',
      path.join(examplesDir, 'data'),
      '--output',
      output,
    ]);
    expect(cli.exitCode, cli.all).toBe(0);
    expect(cli.stdout).toContain('log-scanner: logs/drive-01.log: 2 of 6 lines match');
    expect(cli.stderr).toContain(
      `action-worker: metadata in ${path.join(output, '.metadata', 'action-worker.json')}`,
    );
    expect(await readFile(path.join(output, 'report.csv'), 'utf8')).toBe(
      'file,lines,matches\nlogs/drive-01.log,6,2\nlogs/drive-02.log,3,0\nnotes.txt,2,1\n',
    );
    const summary = JSON.parse(
      await readFile(path.join(output, '.metadata', 'action-worker.json'), 'utf8'),
    ) as ExportSummary;
    expect(summary.image).toMatchObject({
      reference: 'log-scanner:latest',
      id: expect.stringMatching(/^sha256:/),
    });
    expect(summary.dataset.tags).toEqual(['scanned-by-log-scanner']);
    expect(summary.dataset.metadata).toEqual({
      log_scanner: { pattern: 'ERROR', total_matches: 3, files_flagged: 2 },
    });
    expect(summary.files.find((file) => file.relative_path === 'matches/logs/drive-01.log')).toMatchObject({
      tags: ['has-matches'],
      metadata: { matches: 2, source: { path: 'logs/drive-01.log' } },
    });
  });
});
