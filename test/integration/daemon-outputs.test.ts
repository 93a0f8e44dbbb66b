import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import { type DaemonProcess, shellAction, useTestQueue } from '../support/daemon-harness.js';
import { tempDir } from '../support/harness.js';
import { openDataStore } from '../../src/app/local-adapters.js';

const SECRET = 'd\u00e6mon-t\u00f6ken/\u00fc+x';

// Writes one output and a changeset naming 20,000 files the action never wrote.
const WRITE_AND_NAME_MISSING = [
  'set -e',
  'echo report > "$ROBOTO_OUTPUT_DIR/report.txt"',
  `seq 1 20000 | sed 's|.*|{"relative_path":"missing/&.txt","update":{}}|' > "$ROBOTO_FILE_METADATA_CHANGESET_FILE"`,
].join('\n');

// Prints the secret as the SDK's secrets.json holds it (json.dumps: \u escapes) and in hex, then lingers so
// the live output can be followed.
const LEAK = [
  'echo "escaped: $(sed -n "s/^  \\"token\\": \\"\\(.*\\)\\"$/\\1/p" "$ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json")"',
  'echo "hex: $(printf %s "$ROBOTO_PARAM_raw" | od -An -tx1 | tr -d " \\n")"',
  'sleep 2',
  'echo done',
].join('; ');

describe('the daemon, with what an action prints and writes', () => {
  const queue = useTestQueue({ ACTION_WORKER_NETWORK: 'none' });
  let daemon: DaemonProcess;

  beforeAll(async () => {
    const secrets = await tempDir('secrets');
    await writeFile(path.join(secrets, 'nonascii'), SECRET);
    queue().env.ACTION_WORKER_SECRETS_DIR = secrets;
    daemon = queue().startDaemon();
    await daemon.waitForLog('daemon.started');
  });

  it('stores the outputs of an invocation with no dataset in a new one the record names, and logs one summary', async () => {
    const invocationId = await queue().invoke([await shellAction('no-dataset', WRITE_AND_NAME_MISSING)]);
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const detail = record.status.at(-1)?.detail ?? '';
    const datasetId = /uploaded to a new dataset, (ds_\w+)$/.exec(detail)?.[1];
    expect(detail).toMatch(/^1 output file\(s\) uploaded to a new dataset, ds_\w+$/);
    // The store the daemon writes, in its directory.
    const store = await openDataStore({
      storeDir: queue().env.ACTION_WORKER_STORE_DIR ?? '',
      store: { database: null },
    });
    onTestFinished(() => store.close());
    const files = await store.listFiles(datasetId ?? '');
    expect(files.map((file) => file.record.relative_path)).toEqual(['report.txt']);

    const ofThis = daemon.lines.filter((line) => line.invocationId === invocationId);
    const missing = ofThis.filter((line) => line.msg === 'output.file_changeset.no_such_output');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({
      count: 20_000,
      paths: [1, 2, 3, 4, 5].map((index) => `missing/${index}.txt`),
    });
    expect(ofThis.length).toBeLessThan(40);
  });

  it('masks a non-ASCII secret, JSON-escaped and in hex, in the followed, stored and worker logs', async () => {
    const action = await shellAction('leak', LEAK, { parameters: [{ name: 'token' }, { name: 'raw' }] });
    // The raw value comes as a plain parameter only because busybox cannot decode the \u escapes.
    const invocationId = await queue().invoke([
      action,
      '--secret',
      'token=nonascii',
      '--param',
      `raw=${SECRET}`,
    ]);
    await queue().waitStatus(invocationId, InvocationStatus.Processing);
    const followed = await queue().cli(['invocations', 'logs', invocationId, '--follow']);
    expect(followed.exitCode, followed.stderr).toBe(0);
    expect(followed.stdout).toBe('escaped: ***\nhex: ***\ndone');
    const record = await queue().waitFinished(invocationId);
    expect(record.last_status, daemon.dump()).toBe(InvocationStatus.Completed);
    const stored = await queue().store().getLog(invocationId);
    expect(stored).toMatch(/stdout {2}escaped: \*\*\*\n.*stdout {2}hex: \*\*\*\n/s);
    const escaped = JSON.stringify(SECRET).slice(1, -1);
    const jsonEscaped = 'd\\u00e6mon-t\\u00f6ken/\\u00fc+x';
    const hex = Buffer.from(SECRET).toString('hex');
    for (const text of [followed.stdout, stored, daemon.dump()]) {
      for (const form of [escaped, jsonEscaped, hex]) expect(text).not.toContain(form);
    }
  });
});
