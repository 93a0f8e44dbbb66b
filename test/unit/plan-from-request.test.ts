import { describe, expect, it } from 'vitest';
import { buildInvocationRequest } from '../../src/app/invocations.js';
import { capacityShortfall } from '../../src/domain/compute-requirements.js';
import { InvocationRequest } from '../../src/domain/invocation-request.js';
import { planFromRequest } from '../../src/stages/plan-from-request.js';
import { invokeOptions } from '../support/invoke-options.js';

const invoke = invokeOptions({ image: 'registry.example/act:1' });

const context = { invocationId: 'iv_1', attempt: 2, defaultTimeoutMinutes: 720 };

function request(fields: Record<string, unknown> = {}, action: Record<string, unknown> = {}) {
  return InvocationRequest.parse({
    action: { image: 'registry.example/act:1', config: { name: 'act', ...action } },
    org_id: 'og_1',
    ...fields,
  });
}

describe('planFromRequest', () => {
  it('runs `invoke --timeout 90s` for 90 s, keeping whole minutes on the wire beside it', async () => {
    const built = await buildInvocationRequest({ ...invoke, timeout: '90s' }, {});
    expect(built).toMatchObject({ timeout_minutes: 2, timeout_ms: 90_000 });
    expect(planFromRequest(built, context).timeoutMs).toBe(90_000);
  });

  it('runs a request written before the exact duration existed for its whole minutes', () => {
    const old = request({ timeout_minutes: 2 });
    expect(old.timeout_ms).toBeNull();
    expect(planFromRequest(old, context).timeoutMs).toBe(120_000);
  });

  it("falls back to the action's timeout, then to the worker's default", () => {
    expect(planFromRequest(request({}, { timeout: 30 }), context).timeoutMs).toBe(30 * 60_000);
    expect(planFromRequest(request(), context).timeoutMs).toBe(720 * 60_000);
  });

  it('resolves overrides, ids and the image as the pipeline needs them', () => {
    const plan = planFromRequest(
      request(
        {
          compute_requirement_overrides: { vCPU: 1024, memory: 2048 },
          container_parameter_overrides: { env_vars: { B: '2' } },
          data_source_id: 'ds_in',
          upload_destination_id: 'ds_out',
          dry_run: true,
          log_level: 'DEBUG',
        },
        { container_parameters: { env_vars: { A: '1' }, command: ['run'] } },
      ),
      context,
    );
    expect(plan).toMatchObject({
      invocationId: 'iv_1',
      attempt: 2,
      orgId: 'og_1',
      image: { kind: 'reference', reference: 'registry.example/act:1' },
      dataSourceId: 'ds_in',
      uploadDestinationId: 'ds_out',
      computeRequirements: { vCPU: 1024, memory: 2048 },
      isDryRun: true,
      logLevel: 'DEBUG',
    });
    expect(plan.containerParameters.command).toEqual(['run']);
    expect(plan.containerParameters.env_vars).toMatchObject({ B: '2' });
  });

  it("builds a local action directory as the request's image when told to", () => {
    const plan = planFromRequest(request({ action: { image: 'act:latest', config: { name: 'act' } } }), {
      ...context,
      build: { contextDir: '/actions/act', dockerfile: 'Dockerfile' },
    });
    expect(plan.image).toEqual({
      kind: 'build',
      contextDir: '/actions/act',
      dockerfile: 'Dockerfile',
      tag: 'act:latest',
    });
  });
});

describe('capacityShortfall', () => {
  const host = { vcpu: 2048, memoryMiB: 4096 };

  it('is nothing for requirements that fit, and names each shortfall otherwise', () => {
    expect(capacityShortfall({ vCPU: 2048, memory: 4096, gpu: false, storage: 21 }, host)).toBeUndefined();
    expect(capacityShortfall({ vCPU: 4096, memory: 8192, gpu: false, storage: 21 }, host)).toBe(
      'the action needs 4 vCPU (this host offers 2) and 8192 MiB of memory (this host offers 4096 MiB)',
    );
  });
});
