import { describe, expect, it } from 'vitest';
import { InvocationRequest } from '../../src/domain/invocation-request.js';

const minimal = { action: { image: 'img:1', config: { name: 'act' } }, org_id: 'og_1' };

describe('InvocationRequest', () => {
  it('fills the defaults', () => {
    expect(InvocationRequest.parse(minimal)).toMatchObject({
      parameter_values: {},
      input: null,
      data_source_id: '__UNSPECIFIED_DATA_SOURCE__',
      upload_destination_id: null,
      timeout_minutes: null,
      idempotency_id: null,
      dry_run: false,
      log_level: 'INFO',
    });
  });

  it('accepts selectors, overrides and secret references', () => {
    const request = InvocationRequest.parse({
      ...minimal,
      parameter_values: { key: 'roboto-secret://labeler@og_1', n: 5 },
      secret_parameters: ['key'],
      input: { files: { dataset_id: 'ds_1', paths: ['**/*.bag'] } },
      compute_requirement_overrides: { vCPU: '1024', memory: 2048 },
      timeout_minutes: '30',
    });
    expect(request.input?.files?.[0]?.paths).toEqual(['**/*.bag']);
    expect(request.compute_requirement_overrides?.vCPU).toBe(1024);
    expect(request.timeout_minutes).toBe(30);
  });

  it('refuses a secret parameter carrying a value, naming it', () => {
    const result = InvocationRequest.safeParse({
      ...minimal,
      parameter_values: { key: 'sk-live-123' },
      secret_parameters: ['key'],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({
      path: ['parameter_values', 'key'],
      message: 'a secret parameter must be a roboto-secret:// reference, never a value',
    });
  });

  it('names the field of every other mistake', () => {
    const result = InvocationRequest.safeParse({ action: { image: '', config: {} }, timeout_minutes: 0 });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['action.image', 'action.config.name', 'org_id', 'timeout_minutes']),
    );
  });
});
