import { describe, expect, it } from 'vitest';
import { InvocationRequest } from '../../src/domain/invocation-request.js';
import { InvocationStatus } from '../../src/domain/invocation-status.js';
import {
  InvocationRecordWire,
  type StoredInvocation,
  invocationToWire,
  isoDuration,
} from '../../src/domain/invocation-wire.js';

/** The example of spec §2.13 that the SDK accepted, as our store would hold it. */
const example: StoredInvocation = {
  invocation_id: 'iv_1',
  org_id: 'og_1',
  created: '2024-01-01T00:00:00Z',
  request: InvocationRequest.parse({
    action: {
      image: 'img:latest',
      config: {
        name: 'tag-dataset',
        compute_requirements: { vCPU: 512, memory: 1024 },
        container_parameters: { env_vars: { A: '1' } },
        timeout: 30,
      },
    },
    org_id: 'og_1',
    parameter_values: { threshold: '5' },
    input: { files: { dataset_id: 'ds_1', paths: ['**/*.bag'] } },
    input_data: ['**/*.bag'],
    data_source_id: 'ds_1',
    upload_destination_id: 'ds_1',
    provenance: {
      action: { name: 'tag-dataset', org_id: 'og_1', digest: '7041ca6b87179805c4d82ccd496892c1' },
      source: { source_type: 'Manual', source_id: 'u1' },
    },
  }),
  last_status: InvocationStatus.Queued,
  status: [{ status: InvocationStatus.Queued, detail: null, timestamp: '2024-01-01T00:00:00Z' }],
  last_heartbeat: null,
  image: null,
};

describe('invocationToWire (spec §2.2)', () => {
  it('gives the record of spec §2.13 field for field', () => {
    const wire = invocationToWire(example, { defaultTimeoutMinutes: 720 });
    expect(wire).toEqual({
      created: '2024-01-01T00:00:00Z',
      data_source: { data_source_type: 'Dataset', data_source_id: 'ds_1' },
      input_data: ['**/*.bag'],
      rich_input_data: {
        files: [{ query: null, ids: null, names: null, dataset_id: 'ds_1', paths: ['**/*.bag'] }],
        topics: null,
      },
      upload_destination: { destination_type: 'Dataset', destination_id: 'ds_1' },
      invocation_id: 'iv_1',
      idempotency_id: null,
      compute_requirements: { vCPU: 512, memory: 1024, gpu: false, storage: 21 },
      container_parameters: { command: null, entry_point: null, env_vars: { A: '1' }, workdir: null },
      last_heartbeat: null,
      last_status: 0,
      org_id: 'og_1',
      parameter_values: { threshold: '5' },
      provenance: {
        action: { name: 'tag-dataset', org_id: 'og_1', digest: '7041ca6b87179805c4d82ccd496892c1' },
        executable: { container_image_uri: 'img:latest', container_image_digest: null },
        source: { source_type: 'Manual', source_id: 'u1' },
      },
      status: [{ status: 0, detail: null, timestamp: '2024-01-01T00:00:00Z' }],
      duration: 'PT0S',
      timeout: 30,
    });
    expect(InvocationRecordWire.safeParse(wire).success).toBe(true);
  });

  it('reads a record written before provenance and input_data existed, resolving defaults', () => {
    // A request as `action-worker invoke` stored it before: no provenance, no input_data, no timeout.
    const legacy = JSON.parse(
      JSON.stringify({ action: { image: 'img:1', config: { name: 'act' } }, org_id: 'og_2' }),
    ) as InvocationRequest;
    const wire = invocationToWire(
      {
        ...example,
        org_id: 'og_2',
        request: legacy,
        image: { reference: 'img:1', id: 'sha256:x', digest: 'sha256:d' },
      },
      { defaultTimeoutMinutes: 45 },
    );
    expect(wire.provenance).toEqual({
      action: { name: 'act', org_id: 'og_2', digest: null },
      executable: { container_image_uri: 'img:1', container_image_digest: 'sha256:d' },
      source: { source_type: 'Manual', source_id: 'action-worker' },
    });
    expect(wire.input_data).toEqual([]);
    expect(wire.timeout).toBe(45);
    expect(wire.compute_requirements).toEqual({ vCPU: 512, memory: 1024, gpu: false, storage: 21 });
    expect(wire.rich_input_data).toBeNull();
    expect(InvocationRecordWire.safeParse(wire).success).toBe(true);
    // And the request schema still parses it, filling the new fields.
    expect(InvocationRequest.parse(legacy)).toMatchObject({ provenance: null, input_data: [] });
  });

  it('merges overrides, sorts statuses, keeps last_status consistent and measures the run', () => {
    const request = InvocationRequest.parse({
      ...example.request,
      compute_requirement_overrides: { vCPU: 2048, memory: 4096 },
      container_parameter_overrides: { env_vars: { B: '2' }, command: ['run'] },
      timeout_minutes: 5,
    });
    const wire = invocationToWire(
      {
        ...example,
        request,
        last_status: InvocationStatus.Completed,
        // Out of order as stored; the client sorts by (timestamp, status).
        status: [
          { status: InvocationStatus.Completed, detail: null, timestamp: '2024-01-01T00:01:40.500Z' },
          { status: InvocationStatus.Queued, detail: null, timestamp: '2024-01-01T00:00:00Z' },
          { status: InvocationStatus.Scheduled, detail: 'None', timestamp: '2024-01-01T00:00:10Z' },
        ],
      },
      { defaultTimeoutMinutes: 720 },
    );
    expect(wire.status.map((entry) => entry.status)).toEqual([0, 1, 5]);
    expect(wire.last_status).toBe(5);
    expect(wire.duration).toBe('PT1M30.5S');
    expect(wire.timeout).toBe(5);
    expect(wire.compute_requirements).toEqual({ vCPU: 2048, memory: 4096, gpu: false, storage: 21 });
    expect(wire.container_parameters).toEqual({
      command: ['run'],
      entry_point: null,
      env_vars: { A: '1', B: '2' },
      workdir: null,
    });
  });

  it('measures a running invocation up to now, and shows secret parameters as references', () => {
    const request = InvocationRequest.parse({
      ...example.request,
      parameter_values: { key: 'roboto-secret://labeler' },
      secret_parameters: ['key'],
    });
    const wire = invocationToWire(
      {
        ...example,
        request,
        last_status: InvocationStatus.Processing,
        status: [
          ...example.status,
          { status: InvocationStatus.Processing, detail: null, timestamp: '2024-01-01T01:00:00Z' },
        ],
      },
      { defaultTimeoutMinutes: 720, now: new Date('2024-01-01T03:00:05Z') },
    );
    expect(wire.duration).toBe('PT2H0M5S');
    expect(wire.parameter_values).toEqual({ key: 'roboto-secret://labeler' });
  });

  it('formats durations the way the SDK does', () => {
    expect(isoDuration(0)).toBe('PT0S');
    expect(isoDuration(90_000)).toBe('PT1M30S');
    expect(isoDuration(1_500)).toBe('PT1.5S');
  });
});
