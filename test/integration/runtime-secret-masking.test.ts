import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeAction, removeTempDirs, runInProcess, tempDir } from '../support/harness.js';

const SECRET = 'p@ss w0rd/with-sp3cial';
// The credential the worker hands every action: as secret as a secret parameter.
const API_KEY = 'roboto-api-key-for-this-worker';

// Reads the secret the way the SDK does (secrets.json) and leaks it every way it can: split over two
// writes with a pause between (two chunks on the wire), base64, URL-encoded (given as a plain parameter,
// since busybox has no URL encoder), on both streams.
const LEAK = [
  'value=$(sed -n "s/^  \\"token\\": \\"\\(.*\\)\\"$/\\1/p" "$ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json")',
  'printf "split: %s" "$(printf %s "$value" | cut -c1-7)"',
  'sleep 1',
  'printf "%s :end\\n" "$(printf %s "$value" | cut -c8-)"',
  'echo "base64: $(printf %s "$value" | base64)"',
  'echo "url: $ROBOTO_PARAM_encoded" >&2',
  'echo "plain on stderr: $value" >&2',
  'echo "api key: $ROBOTO_API_KEY"',
].join('; ');

describe('secret masking', () => {
  afterAll(removeTempDirs);

  it('masks a secret split across chunks and its encoded forms in everything printed or stored', async () => {
    const actionDir = await makeAction(
      'leaky',
      {
        parameters: [{ name: 'token' }, { name: 'encoded' }],
        container_parameters: { entry_point: ['/bin/sh', '-c'], command: [LEAK] },
      },
      [],
    );
    const run = await runInProcess(
      {
        actionDir,
        secrets: ['token=env:LEAKY_TOKEN'],
        params: [`encoded=${encodeURIComponent(SECRET)}`],
        outputDir: path.join(await tempDir('out'), 'o'),
      },
      { env: { LEAKY_TOKEN: SECRET }, settings: { roboto: { apiKey: API_KEY } } },
    );
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const logFile = await readFile(path.join(run.result.outputDir!, '.metadata', 'action.log'), 'utf8');
    const forms = [SECRET, Buffer.from(SECRET).toString('base64'), encodeURIComponent(SECRET), API_KEY];
    for (const text of [run.stdout, run.stderr, run.result.outcome.log, logFile]) {
      for (const form of forms) expect(text).not.toContain(form);
    }
    expect(run.stdout).toBe('split: *** :end\nbase64: ***\napi key: ***\n');
    expect(run.stderr).toBe('url: ***\nplain on stderr: ***\n');
    expect(run.result.outcome.log).toMatch(/Z stdout {2}split: \*\*\* :end\n/);
  });
});
