import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExportSummary } from '../../src/app/dataset-transfer.js';
import { PLACEHOLDER_API_KEY } from '../../src/config/worker-settings.js';
import { ActionInputRecord } from '../../src/domain/records.js';
import {
  type InProcessRun,
  managedContainers,
  removeTempDirs,
  runInProcess,
  tempDir,
} from '../support/harness.js';
import { fixturesDir } from '../support/paths.js';

const SECRET = 'sk-live-0123456789';

async function makeInputFolder(): Promise<string> {
  const dir = await tempDir('input');
  await mkdir(path.join(dir, 'logs'), { recursive: true });
  await mkdir(path.join(dir, '.hidden'), { recursive: true });
  await writeFile(path.join(dir, 'logs', 'a.log'), 'line one\nline two\n');
  await writeFile(path.join(dir, 'b.bin'), Buffer.alloc(1000, 7));
  await writeFile(path.join(dir, 'top level.txt'), 'spaces in the name');
  await writeFile(path.join(dir, '.hidden', 'system.txt'), 'never selected by paths');
  return dir;
}

async function readEvidence(run: InProcessRun, name: string): Promise<string> {
  return readFile(path.join(run.result.outputDir!, 'evidence', name), 'utf8');
}

function parseEnv(text: string): Map<string, string> {
  return new Map(
    text
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('action-worker run: the runtime contract, end to end', () => {
  let inputDir: string;
  let run: InProcessRun;

  beforeAll(async () => {
    inputDir = await makeInputFolder();
    run = await runInProcess(
      {
        actionDir: path.join(fixturesDir, 'contract-probe'),
        inputDir,
        outputDir: path.join(await tempDir('out'), 'outputs'),
        params: ['threshold=60'],
        secrets: [`api_key=env:PROBE_SECRET`],
        orgId: 'og_test',
      },
      { env: { PROBE_SECRET: SECRET } },
    );
  });

  afterAll(removeTempDirs);

  it('completes through every status in order', () => {
    expect(run.result.outcome.detail).toMatch(/output file\(s\) uploaded/);
    expect(run.statuses.map((status) => status.split(':')[0])).toEqual([
      'Scheduled',
      'Downloading',
      'Processing',
      'Uploading',
      'Completed',
    ]);
  });

  it('passes every check the probe makes inside the container', async () => {
    const checks = await readEvidence(run, 'checks.txt');
    expect(checks).not.toContain('FAIL');
    expect(checks.trim().split('\n').length).toBeGreaterThanOrEqual(25);
  });

  it('sets the ROBOTO_* environment, parameters with defaults included, and the action env_vars', async () => {
    const env = parseEnv(await readEvidence(run, 'env.txt'));
    expect(env.get('ROBOTO_INVOCATION_ID')).toBe(run.result.invocationId);
    expect(env.get('ROBOTO_DATASET_ID')).toMatch(/^ds_[0-9a-z]{12}$/);
    expect(env.get('ROBOTO_ORG_ID')).toBe('og_test');
    expect(env.get('ROBOTO_API_KEY')).toBe(PLACEHOLDER_API_KEY);
    expect(env.get('ROBOTO_DRY_RUN')).toBe('false');
    expect(env.get('ROBOTO_LOG_LEVEL')).toBe('INFO');
    expect(env.get('ROBOTO_ACTION_TIMEOUT')).toBe('5');
    expect(env.get('HOME')).toBe('/roboto/ws');
    expect(env.get('ROBOTO_PARAM_threshold')).toBe('60');
    expect(env.get('ROBOTO_PARAM_THRESHOLD')).toBe('60');
    expect(env.get('ROBOTO_PARAM_ratio')).toBe('0.5');
    expect(env.get('ROBOTO_PARAM_enabled')).toBe('True');
    expect(env.get('ROBOTO_PARAM_scale')).toBe('1.0');
    expect(env.get('ROBOTO_PARAM_api_key')).toBe('roboto-secret://api_key');
    expect(env.get('PROBE_EXTRA')).toBe('from-action-json');
    expect([...env.values()].join('\n')).not.toContain(SECRET);
  });

  it('writes the parameters file as the SDK does, secret as a URI', async () => {
    expect(await readEvidence(run, 'parameters.json')).toBe(
      [
        '{',
        '  "ratio": "0.5",',
        '  "enabled": "True",',
        '  "scale": "1.0",',
        '  "label": "probe",',
        '  "threshold": "60",',
        '  "api_key": "roboto-secret://api_key"',
        '}',
      ].join('\n'),
    );
  });

  it('writes secrets.json keyed by parameter name with mode 0600', async () => {
    expect((await readEvidence(run, 'secrets.mode')).trim()).toBe('600');
    const expected = createHash('sha256').update(`{\n  "api_key": "${SECRET}"\n}`).digest('hex');
    expect((await readEvidence(run, 'secrets.sha256')).trim()).toBe(expected);
  });

  it('lists every selected input in the manifest at a readable container path of the recorded size', async () => {
    const manifest = ActionInputRecord.parse(JSON.parse(await readEvidence(run, 'manifest.json')));
    const seen = new Map(
      (await readEvidence(run, 'inputs.txt'))
        .trim()
        .split('\n')
        .map((line) => {
          const [size = '', ...rest] = line.trim().split(/\s+/);
          return [rest.join(' '), Number(size)] as const;
        }),
    );
    expect(manifest.files.map(([record]) => record.relative_path).sort()).toEqual([
      'b.bin',
      'logs/a.log',
      'top level.txt',
    ]);
    for (const [record, containerPath] of manifest.files) {
      expect(containerPath).toBe(`/roboto/ws/input/${record.relative_path}`);
      expect(seen.get(containerPath!)).toBe(record.size);
      expect(record.association_id).toBe(manifest.files[0]?.[0].association_id);
      expect(record.org_id).toBe('og_test');
    }
    expect(manifest.topics).toEqual([]);
  });

  it('keeps the image working directory and runs as the default user (never root)', async () => {
    expect((await readEvidence(run, 'cwd.txt')).trim()).toBe('/');
    // A root worker runs actions as the unprivileged 65532:65532; any other worker as itself.
    expect((await readEvidence(run, 'id.txt')).trim()).toBe(
      process.getuid!() === 0 ? '65532:65532' : `${process.getuid!()}:${process.getgid!()}`,
    );
  });

  it('masks the secret and its base64 in what the action prints', () => {
    expect(run.stdout).toContain('probe: the secret is ***');
    expect(run.stdout).toContain('probe: all checks passed');
    expect(run.stderr).toContain('probe: base64 ***');
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    expect(run.stderr).not.toContain(Buffer.from(SECRET).toString('base64'));
  });

  it('collects regular files only: no symlink, nothing from output/.metadata/', async () => {
    const outputs = await readdir(run.result.outputDir!, { recursive: true });
    expect(outputs).toContain('result.txt');
    expect(outputs).toContain(path.join('nested', 'deeper', 'deep.txt'));
    expect(outputs).not.toContain('escape-link');
    expect(outputs).not.toContain('inside-link');
    expect(outputs).not.toContain(path.join('.metadata', 'not-an-output.txt'));
    expect(run.result.outcome.refused.map((entry) => entry.relativePath).sort()).toEqual([
      'escape-link',
      'inside-link',
    ]);
  });

  it('applies the folded file changeset and the dataset changeset by the fold rules', async () => {
    const summary = JSON.parse(await readFile(run.result.summaryFile!, 'utf8')) as ExportSummary;
    const byPath = new Map(summary.files.map((file) => [file.relative_path, file]));
    expect(byPath.get('result.txt')).toMatchObject({
      description: 'over-exposed',
      tags: ['cloudy'],
      metadata: { cars: 2, nested: { key: 'v' } },
    });
    // remove_tags("late") came first, put_tags("late") later: removes still win.
    expect(byPath.get('nested/deeper/deep.txt')).toMatchObject({
      description: null,
      tags: ['kept'],
      metadata: {},
    });
    expect(byPath.get('evidence/env.txt')).toMatchObject({ description: null, tags: [], metadata: {} });
    expect(byPath.has('no/such/output.txt')).toBe(false);
    expect(summary.dataset).toEqual({
      dataset_id: run.result.outcome.uploadDatasetId,
      tags: ['probed'],
      metadata: { probe: { runs: 1, threshold: '60' } },
    });
    expect(summary.status).toBe('Completed');
  });

  it('removes the workspace, secrets.json from its tmpfs, and the container', async () => {
    expect(await readdir(run.workspaceParent)).toEqual([]);
    expect(await readdir(run.secretsDir)).toEqual([]);
    const leftovers = (await managedContainers()).filter(
      (c) => c.Labels['dev.action-worker.invocation-id'] === run.result.invocationId,
    );
    expect(leftovers).toEqual([]);
  });
});

describe('action-worker run: inputs the action does not download', () => {
  afterAll(removeTempDirs);

  it('lists the records with null paths and places no file when requires_downloaded_inputs is false', async () => {
    const actionDir = await tempDir('no-download-action');
    await cp(path.join(fixturesDir, 'contract-probe'), actionDir, { recursive: true });
    const config = JSON.parse(await readFile(path.join(actionDir, 'action.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    await writeFile(
      path.join(actionDir, 'action.json'),
      JSON.stringify({ ...config, requires_downloaded_inputs: 'false' }),
    );
    const run = await runInProcess(
      {
        actionDir,
        inputDir: await makeInputFolder(),
        files: ['*.log'],
        params: ['threshold=1'],
        secrets: ['api_key=literal:x-secret'],
        outputDir: path.join(await tempDir('out'), 'o'),
      },
      {},
    );
    expect(run.result.outcome.status).toBe(5);
    const manifest = ActionInputRecord.parse(JSON.parse(await readEvidence(run, 'manifest.json')));
    expect(manifest.files.map(([record, localPath]) => [record.relative_path, localPath])).toEqual([
      ['logs/a.log', null],
    ]);
    expect((await readEvidence(run, 'inputs.txt')).trim()).toBe('');
  });

  it('sets ROBOTO_DRY_RUN=true on --dry-run and uploads nothing', async () => {
    const outputDir = path.join(await tempDir('out'), 'o');
    const run = await runInProcess({
      actionDir: path.join(fixturesDir, 'contract-probe'),
      params: ['threshold=1'],
      secrets: ['api_key=literal:x-secret'],
      outputDir,
      dryRun: true,
    });
    expect(run.result.outcome.status).toBe(5);
    expect(run.statuses.at(-1)).toBe('Completed: dry run: outputs not uploaded');
    expect(await readdir(outputDir, { recursive: true })).toEqual([
      '.metadata',
      path.join('.metadata', 'action.log'),
    ]);
  });
});

describe('action-worker run: container_parameters', () => {
  afterAll(removeTempDirs);

  it('applies entry_point, command and workdir with Docker semantics', async () => {
    const actionDir = await tempDir('container-params');
    await writeFile(
      path.join(actionDir, 'action.json'),
      JSON.stringify({
        name: 'container-params',
        container_parameters: {
          entry_point: ['/bin/sh', '-c'],
          command: [
            'pwd > "$ROBOTO_OUTPUT_DIR/cwd.txt"; echo "$0 $1" > "$ROBOTO_OUTPUT_DIR/args.txt"',
            'arg-zero',
            'arg-one',
          ],
          workdir: '/tmp',
        },
      }),
    );
    // The image's own ENTRYPOINT and CMD would fail: they must both be replaced.
    await writeFile(
      path.join(actionDir, 'Dockerfile'),
      'FROM action-worker/busybox:latest\nWORKDIR /etc\nENTRYPOINT ["/bin/false"]\nCMD ["never"]\n',
    );
    const run = await runInProcess({ actionDir, outputDir: path.join(await tempDir('out'), 'o') });
    expect(run.result.outcome.detail, run.stderr).toBe('2 output file(s) uploaded');
    expect(await readFile(path.join(run.result.outputDir!, 'cwd.txt'), 'utf8')).toBe('/tmp\n');
    expect(await readFile(path.join(run.result.outputDir!, 'args.txt'), 'utf8')).toBe('arg-zero arg-one\n');
  });
});
