import { z } from 'zod';
import { UsageError } from './errors.js';
import { laxBool, laxInt } from './lax.js';

/** CPU units: 1024 = one vCPU. The Fargate task sizes the platform accepts (spec §9.1). */
export const VCPU_VALUES = [256, 512, 1024, 2048, 4096, 8192, 16384] as const;

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let value = from; value <= to; value += step) out.push(value);
  return out;
}

/** Allowed memory (MiB) for each vCPU value. */
export const MEMORY_MIB_BY_VCPU: Readonly<Record<number, readonly number[]>> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: range(2048, 8192, 1024),
  2048: range(4096, 16384, 1024),
  4096: range(8192, 30720, 1024),
  8192: range(16384, 61440, 4096),
  16384: range(32768, 122880, 8192),
};

export const MIN_STORAGE_GIB = 21;

/** Picks the first present key among aliases, so `memory_MiB` and `memory_mib` read as `memory`. */
function applyAliases(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const input = value as Record<string, unknown>;
  const out: Record<string, unknown> = { ...input };
  const aliases: Record<string, readonly string[]> = {
    memory: ['memory_MiB', 'memory_mib'],
    storage: ['storage_GiB', 'storage_gib'],
  };
  for (const [canonical, names] of Object.entries(aliases)) {
    if (out[canonical] !== undefined) continue;
    const alias = names.find((name) => input[name] !== undefined);
    if (alias !== undefined) out[canonical] = input[alias];
  }
  return out;
}

export const ComputeRequirements = z.preprocess(
  applyAliases,
  z
    .object({
      vCPU: laxInt()
        .refine((v) => (VCPU_VALUES as readonly number[]).includes(v), {
          message: `must be one of ${VCPU_VALUES.join(', ')}`,
        })
        .default(512),
      memory: laxInt().default(1024),
      gpu: laxBool()
        .refine((v) => !v, { message: 'GPUs are not supported (gpu must be false)' })
        .default(false)
        .transform(() => false as const),
      storage: laxInt()
        .refine((v) => v >= MIN_STORAGE_GIB, { message: `must be at least ${MIN_STORAGE_GIB} (GiB)` })
        .default(MIN_STORAGE_GIB),
    })
    .superRefine((value, ctx) => {
      const allowed = MEMORY_MIB_BY_VCPU[value.vCPU];
      if (allowed !== undefined && !allowed.includes(value.memory)) {
        ctx.addIssue({
          code: 'custom',
          path: ['memory'],
          message: `${value.memory} MiB is not allowed with vCPU ${value.vCPU}; allowed: ${describeAllowed(allowed)}`,
        });
      }
    }),
);
export type ComputeRequirements = z.output<typeof ComputeRequirements>;

function describeAllowed(values: readonly number[]): string {
  if (values.length <= 4) return values.join(', ');
  const step = (values[1] ?? 0) - (values[0] ?? 0);
  return `${values[0] ?? ''} to ${values[values.length - 1] ?? ''} in steps of ${step}`;
}

export const DEFAULT_COMPUTE_REQUIREMENTS: ComputeRequirements = ComputeRequirements.parse({});

/** An invocation override replaces the action's compute requirements wholesale (spec §9.2, [REC]). */
export function effectiveComputeRequirements(
  action: ComputeRequirements | null | undefined,
  override: ComputeRequirements | null | undefined,
): ComputeRequirements {
  return override ?? action ?? DEFAULT_COMPUTE_REQUIREMENTS;
}

/** What a host offers actions. */
export interface HostCapacity {
  /** CPU units (1024 = one vCPU). */
  vcpu: number;
  memoryMiB: number;
}

/**
 * What `requirements` need beyond everything `capacity` offers, in words ("the action needs 4 vCPU (this
 * host offers 2)"), or undefined when they fit: such an invocation can never run on this host, however
 * idle. The one capacity check of the local run and the daemon.
 */
export function capacityShortfall(
  requirements: ComputeRequirements,
  capacity: HostCapacity,
): string | undefined {
  const problems: string[] = [];
  if (requirements.vCPU > capacity.vcpu) {
    problems.push(`${requirements.vCPU / 1024} vCPU (this host offers ${capacity.vcpu / 1024})`);
  }
  if (requirements.memory > capacity.memoryMiB) {
    problems.push(`${requirements.memory} MiB of memory (this host offers ${capacity.memoryMiB} MiB)`);
  }
  return problems.length > 0 ? `the action needs ${problems.join(' and ')}` : undefined;
}

/** Refuses an invocation whose requirements can never fit on this host, instead of starting it. */
export function assertFitsCapacity(requirements: ComputeRequirements, capacity: HostCapacity): void {
  const shortfall = capacityShortfall(requirements, capacity);
  if (shortfall !== undefined) {
    throw new UsageError(`${shortfall}; it can never run here (host capacity is configurable)`, 'E_CAPACITY');
  }
}
