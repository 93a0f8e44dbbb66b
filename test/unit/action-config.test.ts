import { describe, expect, it } from 'vitest';
import { parseActionConfigJson } from '../../src/domain/action-config.js';
import { ComputeRequirements, MEMORY_MIB_BY_VCPU } from '../../src/domain/compute-requirements.js';
import { UsageError } from '../../src/domain/errors.js';

describe('parseActionConfigJson', () => {
  it('accepts the template action.json from roboto actions init', () => {
    const config = parseActionConfigJson(
      '{"name": "my-action", "description": "d", "compute_requirements": {"vCPU": 512, "memory": 1024, "storage": 21}, "parameters": []}',
    );
    expect(config.name).toBe('my-action');
    expect(config.compute_requirements).toEqual({ vCPU: 512, memory: 1024, gpu: false, storage: 21 });
    expect(config.parameters).toEqual([]);
  });

  it('coerces numeric and boolean strings as real action.json files need', () => {
    const config = parseActionConfigJson(
      '{"name": "a", "compute_requirements": {"vCPU": "2048", "memory": "4096"}, "parameters": [{"name": "p", "required": "false"}], "requires_downloaded_inputs": "false", "timeout": "15"}',
    );
    expect(config.compute_requirements?.vCPU).toBe(2048);
    expect(config.compute_requirements?.memory).toBe(4096);
    expect(config.parameters[0]?.required).toBe(false);
    expect(config.requires_downloaded_inputs).toBe(false);
    expect(config.timeout).toBe(15);
  });

  it('formats parameter defaults from their JSON token with Python str()', () => {
    const config = parseActionConfigJson(
      '{"name": "a", "parameters": [{"name": "f", "default": 1.0}, {"name": "i", "default": 5}, {"name": "b", "default": true}, {"name": "l", "default": [1, "x"]}, {"name": "n", "default": null}, {"name": "e", "default": ""}]}',
    );
    expect(config.parameters.map((p) => p.default)).toEqual(['1.0', '5', 'True', "[1, 'x']", null, '']);
  });

  it('accepts the memory and storage aliases and ignores unknown keys', () => {
    const config = parseActionConfigJson(
      '{"name": "a", "compute_requirements": {"vCPU": 1024, "memory_MiB": 3072, "storage_gib": 50}, "unknown": 1}',
    );
    expect(config.compute_requirements).toEqual({ vCPU: 1024, memory: 3072, gpu: false, storage: 50 });
  });

  it.each([
    ['{"description": "no name"}', 'name'],
    [
      '{"name": "a", "compute_requirements": {"vCPU": 300}}',
      'compute_requirements.vCPU: must be one of 256, 512',
    ],
    [
      '{"name": "a", "compute_requirements": {"vCPU": 512, "memory": 8192}}',
      'compute_requirements.memory: 8192 MiB is not allowed with vCPU 512',
    ],
    [
      '{"name": "a", "compute_requirements": {"storage": 20}}',
      'compute_requirements.storage: must be at least 21',
    ],
    ['{"name": "a", "compute_requirements": {"gpu": true}}', 'compute_requirements.gpu'],
    [
      '{"name": "a", "parameters": [{"name": "x"}, {"name": "x"}]}',
      'parameters[1].name: duplicate parameter "x"',
    ],
    ['{"name": "a", "parameters": [{"required": true}]}', 'parameters[0].name'],
    ['{"name": "a", "timeout": 0}', 'timeout: must be a positive number of minutes'],
    ['{"name": "a", "container_parameters": {"env_vars": {"N": 5}}}', 'container_parameters.env_vars.N'],
    ['{"name": "a", "short_description": "' + 'x'.repeat(141) + '"}', 'short_description'],
    [
      '{"name": "a", "image_uri": "x", "docker_config": {}}',
      'docker_config: cannot be combined with image_uri',
    ],
    [
      '{"name": "a", "inherits": {"name": "b"}, "image_uri": "x"}',
      'image_uri: cannot be combined with inherits',
    ],
    ['[1]', 'must hold a JSON object'],
    ['{"name": ', 'is not valid JSON'],
  ])('rejects %s naming the field', (json, message) => {
    let error: unknown;
    try {
      parseActionConfigJson(json, 'action.json');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message).toContain(message);
    expect((error as UsageError).code).toBe('E_INVALID_ACTION_CONFIG');
  });
});

describe('ComputeRequirements', () => {
  it('defaults to 512 vCPU units, 1024 MiB, no GPU, 21 GiB', () => {
    expect(ComputeRequirements.parse({})).toEqual({ vCPU: 512, memory: 1024, gpu: false, storage: 21 });
  });

  it('accepts exactly the Fargate memory sizes for each vCPU', () => {
    expect(MEMORY_MIB_BY_VCPU[1024]).toEqual([2048, 3072, 4096, 5120, 6144, 7168, 8192]);
    expect(MEMORY_MIB_BY_VCPU[8192]?.at(-1)).toBe(61440);
    expect(MEMORY_MIB_BY_VCPU[16384]?.[1]).toBe(40960);
    for (const [vcpu, sizes] of Object.entries(MEMORY_MIB_BY_VCPU)) {
      for (const memory of sizes)
        expect(ComputeRequirements.safeParse({ vCPU: Number(vcpu), memory }).success).toBe(true);
      expect(ComputeRequirements.safeParse({ vCPU: Number(vcpu), memory: (sizes[0] ?? 0) - 1 }).success).toBe(
        false,
      );
    }
  });

  it('has no upper bound on storage, as the SDK', () => {
    expect(ComputeRequirements.parse({ storage: 500 }).storage).toBe(500);
  });
});
