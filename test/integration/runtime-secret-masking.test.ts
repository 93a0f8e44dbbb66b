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
      { env: { LEAKY_TOKEN: SECRET }, settings: { roboto: { apiKey: API_KEY, invocationTokens: false } } },
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

  it('masks a non-ASCII secret as the action encodes it: JSON-escaped, hex, base64 mid-stream, quoted', async () => {
    // What the Python SDK's secrets.json holds (json.dumps, \u escapes), and what Python's encoders print;
    // busybox has no URL encoder, so those come as plain parameters.
    const secret = 't\u00f6k3n/\u00e4+\u00fc \u{1f600} x';
    const pythonForms = {
      quoted: 't%C3%B6k3n/%C3%A4%2B%C3%BC%20%F0%9F%98%80%20x',
      quoted_plus: 't%C3%B6k3n%2F%C3%A4%2B%C3%BC+%F0%9F%98%80+x',
      ascii: 't\\xf6k3n/\\xe4+\\xfc \\U0001f600 x',
    };
    const script = [
      'raw="$ROBOTO_PARAM_raw"',
      'echo "escaped: $(sed -n "s/^  \\"token\\": \\"\\(.*\\)\\"$/\\1/p" "$ROBOTO_ACTION_RUNTIME_CONFIG_DIR/secrets.json")"',
      'echo "hex: $(printf %s "$raw" | od -An -tx1 | tr -d " \\n")"',
      'echo "HEX: $(printf %s "$raw" | od -An -tx1 | tr -d " \\n" | tr a-f A-F)"',
      'echo "b64 at 1: $(printf "x%s--" "$raw" | base64)"',
      'echo "b64 at 2: $(printf "xy%s--" "$raw" | base64)"',
      'echo "b64url: $(printf %s "$raw" | base64 | tr "+/" "-_" | tr -d =)"',
      'echo "quote: $ROBOTO_PARAM_quoted" >&2',
      'echo "quote_plus: $ROBOTO_PARAM_quoted_plus" >&2',
      'echo "ascii: $ROBOTO_PARAM_ascii" >&2',
    ].join('; ');
    const actionDir = await makeAction(
      'leaky-encoder',
      {
        parameters: ['token', 'raw', ...Object.keys(pythonForms)].map((name) => ({ name })),
        container_parameters: { entry_point: ['/bin/sh', '-c'], command: [script] },
      },
      [],
    );
    const run = await runInProcess(
      {
        actionDir,
        secrets: ['token=env:ENCODED_TOKEN'],
        params: [`raw=${secret}`, ...Object.entries(pythonForms).map(([name, form]) => `${name}=${form}`)],
        outputDir: path.join(await tempDir('out'), 'o'),
      },
      { env: { ENCODED_TOKEN: secret }, settings: { container: { networkMode: 'none' } } },
    );
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const logFile = await readFile(path.join(run.result.outputDir!, '.metadata', 'action.log'), 'utf8');
    const bytes = Buffer.from(secret);
    const forms = [
      secret,
      't\\u00f6k3n/\\u00e4+\\u00fc \\ud83d\\ude00 x',
      bytes.toString('hex'),
      bytes.toString('hex').toUpperCase(),
      bytes.toString('base64url'),
      ...Object.values(pythonForms),
      // The secret's bytes well inside a stream, at byte offsets 1 and 2.
      Buffer.from(`x${secret}--`).toString('base64').slice(2, 24),
      Buffer.from(`xy${secret}--`).toString('base64').slice(3, 26),
    ];
    for (const text of [run.stdout, run.stderr, run.result.outcome.log, logFile]) {
      for (const form of forms) expect(text).not.toContain(form);
    }
    expect(run.stdout).toMatch(/^escaped: \*\*\*\nhex: \*\*\*\nHEX: \*\*\*\n/);
    // Only the characters mixing the secret's bits with its neighbours', and theirs ("--", padding), remain.
    expect(run.stdout).toMatch(
      /\nb64 at 1: [\w+/]{0,2}\*\*\*[\w+/=]{0,7}\nb64 at 2: [\w+/]{0,3}\*\*\*[\w+/=]{0,7}\n/,
    );
    expect(run.stdout).toMatch(/\nb64url: \*\*\*\n$/);
    expect(run.stderr).toBe('quote: ***\nquote_plus: ***\nascii: ***\n');
    expect(run.result.outcome.log).toMatch(/Z stdout {2}hex: \*\*\*\n/);
  });

  it('masks a secret inside JSON piped through base64, wrapped at 76 and 64 columns, \n or \r\n', async () => {
    // The review's attack: `{"user":"alice","token":"sk_live_…"} | base64` went through whole, the secret
    // crossing a line break.
    const secret = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc9a8f2Bxy';
    const json = 'printf \'{"user":"alice","token":"%s"}\' "$ROBOTO_PARAM_raw"';
    const script = [
      'echo "76:"',
      `${json} | base64`,
      'echo "64:"',
      `${json} | base64 -w 64`,
      'echo "crlf:"',
      `${json} | base64 | sed "s/$/\r/"`,
    ].join('; ');
    const actionDir = await makeAction(
      'leaky-wrapped',
      {
        parameters: [{ name: 'token' }, { name: 'raw' }],
        container_parameters: { entry_point: ['/bin/sh', '-c'], command: [script] },
      },
      [],
    );
    const run = await runInProcess(
      {
        actionDir,
        secrets: ['token=env:WRAPPED_TOKEN'],
        // The secret's value in a plain parameter too, so the action can print it (busybox has no JSON parser).
        params: [`raw=${secret}`],
        outputDir: path.join(await tempDir('out'), 'o'),
      },
      { env: { WRAPPED_TOKEN: secret }, settings: { container: { networkMode: 'none' } } },
    );
    expect(run.result.outcome.status, run.stderr).toBe(5);
    const logFile = await readFile(path.join(run.result.outputDir!, '.metadata', 'action.log'), 'utf8');
    const blocks = run.stdout.split(/(?:76|64|crlf):\n/).slice(1);
    expect(blocks).toHaveLength(3);
    for (const block of blocks) {
      // Each wrapped line keeps its place; the lines the secret crosses show *** where it was.
      expect(block.split('\n').length).toBe(3);
      expect(block).toContain('***');
      // What is left decodes to nothing of the secret.
      const left = Buffer.from(block.replaceAll('***', '').replace(/\s/g, ''), 'base64').toString('latin1');
      expect(left).not.toContain(secret.slice(0, 8));
      expect(left).not.toContain(secret.slice(-8));
    }
    const whole = Buffer.from(`{"user":"alice","token":"${secret}"}`).toString('base64');
    for (const text of [run.stdout, run.result.outcome.log, logFile]) {
      expect(text.replace(/\s/g, '')).not.toContain(whole.slice(40, 80));
    }
  });
});
