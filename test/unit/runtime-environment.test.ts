import { describe, expect, it } from 'vitest';
import {
  buildRuntimeEnvironment,
  type RuntimeEnvironmentInput,
} from '../../src/domain/runtime-environment.js';
import { containerWorkspaceLayout } from '../../src/domain/workspace-layout.js';

const base: RuntimeEnvironmentInput = {
  datasetId: 'ds_1',
  invocationId: 'iv_1',
  orgId: 'og_1',
  layout: containerWorkspaceLayout(),
  apiKey: 'key',
  serviceEndpoint: 'http://api.invalid',
  isDryRun: false,
  logLevel: 'INFO',
  environmentLabel: 'LOCAL (host)',
  timeoutMinutes: 30,
  parameters: new Map(),
  containerEnv: null,
};

describe('buildRuntimeEnvironment', () => {
  it('sets every variable of spec §1 with container paths', () => {
    const { env } = buildRuntimeEnvironment(base);
    expect(Object.fromEntries(env)).toEqual({
      ROBOTO_DATASET_ID: 'ds_1',
      ROBOTO_INVOCATION_ID: 'iv_1',
      ROBOTO_ORG_ID: 'og_1',
      ROBOTO_INPUT_DIR: '/roboto/ws/input',
      ROBOTO_OUTPUT_DIR: '/roboto/ws/output',
      ROBOTO_API_KEY: 'key',
      ROBOTO_SERVICE_ENDPOINT: 'http://api.invalid',
      ROBOTO_SERVICE_URL: 'http://api.invalid',
      ROBOTO_ACTION_PARAMETERS_FILE: '/roboto/ws/.roboto/action_parameters.json',
      ROBOTO_ACTION_RUNTIME_CONFIG_DIR: '/roboto/ws/.roboto',
      ROBOTO_ACTION_INPUTS_MANIFEST: '/roboto/ws/input/action_inputs_manifest.json',
      ROBOTO_FILE_METADATA_CHANGESET_FILE: '/roboto/ws/.roboto/file_metadata_changeset.jsonl',
      ROBOTO_DATASET_METADATA_CHANGESET_FILE: '/roboto/ws/output/.metadata/dataset_metadata_changeset.json',
      ROBOTO_DRY_RUN: 'false',
      ROBOTO_ENV: 'LOCAL (host)',
      ROBOTO_ACTION_TIMEOUT: '30',
      ROBOTO_LOG_LEVEL: 'INFO',
      HOME: '/roboto/ws',
    });
  });

  it('lets runtime variables win over env_vars, except ROBOTO_LOG_LEVEL', () => {
    const { env } = buildRuntimeEnvironment({
      ...base,
      containerEnv: { ROBOTO_INPUT_DIR: '/elsewhere', ROBOTO_LOG_LEVEL: 'DEBUG', MY_VAR: 'x' },
    });
    expect(env.get('ROBOTO_INPUT_DIR')).toBe('/roboto/ws/input');
    expect(env.get('ROBOTO_LOG_LEVEL')).toBe('DEBUG');
    expect(env.get('MY_VAR')).toBe('x');
  });

  it('sets ROBOTO_PARAM_<name> verbatim for every merged parameter, plus a non-colliding upper-case alias', () => {
    const { env } = buildRuntimeEnvironment({
      ...base,
      parameters: new Map<string, string | null>([
        ['threshold', '60'],
        ['DELIMITER', ','],
        ['mode', 'a'],
        ['MODE', 'b'],
        ['key', 'roboto-secret://k'],
        ['unset', null],
      ]),
    });
    expect(env.get('ROBOTO_PARAM_threshold')).toBe('60');
    expect(env.get('ROBOTO_PARAM_THRESHOLD')).toBe('60');
    expect(env.get('ROBOTO_PARAM_DELIMITER')).toBe(',');
    expect(env.get('ROBOTO_PARAM_mode')).toBe('a');
    expect(env.get('ROBOTO_PARAM_MODE')).toBe('b');
    expect(env.get('ROBOTO_PARAM_key')).toBe('roboto-secret://k');
    expect(env.has('ROBOTO_PARAM_unset')).toBe(false);
  });

  it('never sets a ROBOTO_* variable to the empty string, and says which it dropped', () => {
    const result = buildRuntimeEnvironment({
      ...base,
      parameters: new Map([['empty', '']]),
      containerEnv: { ROBOTO_DRY_RUN_EXTRA: '', OTHER: '' },
    });
    expect([...result.env].filter(([name, value]) => name.startsWith('ROBOTO_') && value === '')).toEqual([]);
    expect(result.droppedEmpty.sort()).toEqual([
      'ROBOTO_DRY_RUN_EXTRA',
      'ROBOTO_PARAM_EMPTY',
      'ROBOTO_PARAM_empty',
    ]);
    expect(result.env.get('OTHER')).toBe('');
  });

  it('writes a real boolean for dry run', () => {
    expect(buildRuntimeEnvironment({ ...base, isDryRun: true }).env.get('ROBOTO_DRY_RUN')).toBe('true');
  });
});
