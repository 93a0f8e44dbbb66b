import { z } from 'zod';
import { effectiveComputeRequirements } from './compute-requirements.js';
import { mergeContainerParameters } from './container-parameters.js';
import { InvocationRequest } from './invocation-request.js';
import { UNSPECIFIED_DATA_SOURCE } from './records.js';
import { type InvocationStatus, type StatusRecord, isInProgress, isTerminal } from './invocation-status.js';

/**
 * The InvocationRecord the SDK validates (spec §2.2, runtime doc §8.3): every key it requires, with the
 * effective values (overrides merged), the timeout resolved, the statuses sorted as the client sorts them.
 * Plain zod objects (no transforms): this schema is the API's response schema and its OpenAPI document.
 */
const Selector = {
  query: z.string().nullable(),
  ids: z.array(z.string()).nullable(),
  names: z.array(z.string()).nullable(),
  dataset_id: z.string().nullable(),
};
const FileSelectorWire = z.object({ ...Selector, paths: z.array(z.string()).nullable() });
const DataSelectorWire = z.object(Selector);

export const InvocationStatusRecordWire = z.object({
  status: z.number().int(),
  detail: z.string().nullable(),
  timestamp: z.string(),
});

export const InvocationRecordWire = z.object({
  invocation_id: z.string(),
  org_id: z.string(),
  created: z.string(),
  data_source: z.object({ data_source_type: z.literal('Dataset'), data_source_id: z.string() }),
  input_data: z.array(z.string()),
  rich_input_data: z
    .object({
      files: z.array(FileSelectorWire).nullable(),
      topics: z.array(DataSelectorWire).nullable(),
    })
    .nullable(),
  upload_destination: z
    .object({ destination_type: z.enum(['Dataset', 'Unknown']), destination_id: z.string().nullable() })
    .nullable(),
  idempotency_id: z.string().nullable(),
  compute_requirements: z.object({
    vCPU: z.number().int(),
    memory: z.number().int(),
    gpu: z.literal(false),
    storage: z.number().int(),
  }),
  container_parameters: z.object({
    command: z.array(z.string()).nullable(),
    entry_point: z.array(z.string()).nullable(),
    env_vars: z.record(z.string(), z.string()).nullable(),
    workdir: z.string().nullable(),
  }),
  last_heartbeat: z.string().nullable(),
  last_status: z.number().int(),
  parameter_values: z.record(z.string(), z.unknown()),
  provenance: z.object({
    action: z.object({ name: z.string(), org_id: z.string(), digest: z.string().nullable() }),
    executable: z.object({
      container_image_uri: z.string().nullable(),
      container_image_digest: z.string().nullable(),
    }),
    source: z.object({ source_type: z.enum(['Manual', 'Trigger']), source_id: z.string() }),
  }),
  status: z.array(InvocationStatusRecordWire).min(1),
  /** ISO 8601: how long it has run (from its first in-progress status to its end, or to now). */
  duration: z.string(),
  /** Minutes, never null. */
  timeout: z.number().int().positive(),
});
export type InvocationRecordWire = z.output<typeof InvocationRecordWire>;

/** What of a stored invocation the wire record is made from (the store port's InvocationRecord has it). */
export interface StoredInvocation {
  invocation_id: string;
  org_id: string;
  created: string;
  request: InvocationRequest;
  last_status: InvocationStatus;
  status: readonly StatusRecord[];
  last_heartbeat: string | null;
  image: { reference: string; id: string; digest: string | null } | null;
}

export interface WireOptions {
  /** Minutes, when neither the request nor its action names a timeout (settings.defaultTimeoutMinutes). */
  defaultTimeoutMinutes: number;
  /** For the duration of a running invocation; by default the clock. */
  now?: Date;
}

/** Where a record written before provenance existed says it came from. */
export const LEGACY_SOURCE_ID = 'action-worker';

/** The client's order (spec §4.4): by timestamp, then status value. */
export function sortStatuses(history: readonly StatusRecord[]): StatusRecord[] {
  return [...history].sort(
    (a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp) || a.status - b.status,
  );
}

/** ISO 8601 duration as the SDK emits it: `PT0S`, `PT1M30S`, `PT2H0M5.5S`. */
export function isoDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms)) / 1000;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = Math.round((total % 60) * 1000) / 1000;
  let text = 'PT';
  if (hours > 0) text += `${hours}H`;
  if (hours > 0 || minutes > 0) text += `${minutes}M`;
  return `${text}${String(seconds)}S`;
}

/** Elapsed run time: from the first status past Queued to the terminal one (or now); 0 if never started. */
export function runDurationMs(history: readonly StatusRecord[], now: Date): number {
  const sorted = sortStatuses(history);
  const started = sorted.find((entry) => isInProgress(entry.status) || isTerminal(entry.status));
  if (started === undefined) return 0;
  const last = sorted[sorted.length - 1];
  const end = last !== undefined && isTerminal(last.status) ? Date.parse(last.timestamp) : now.getTime();
  return Math.max(0, end - Date.parse(started.timestamp));
}

/** The request's timeout in whole minutes: its own, else its action's, else the default. */
export function effectiveTimeoutMinutes(request: InvocationRequest, defaultMinutes: number): number {
  return request.timeout_minutes ?? request.action.config.timeout ?? defaultMinutes;
}

/**
 * The stored request with today's defaults filled in: records written by earlier versions lack newer fields
 * (the stores check only the action image when reading). One that does not parse is read as it is, each
 * field falling back to its default.
 */
function withDefaults(stored: InvocationRequest): InvocationRequest {
  const parsed = InvocationRequest.safeParse(stored);
  if (parsed.success) return parsed.data;
  const raw = stored as Partial<InvocationRequest> & { action: InvocationRequest['action'] };
  const config = (raw.action.config as InvocationRequest['action']['config'] | undefined) ?? {
    name: 'unknown',
    parameters: [],
    metadata: {},
    tags: [],
  };
  return {
    ...raw,
    action: { image: raw.action.image, config },
    parameter_values: raw.parameter_values ?? {},
    secret_parameters: raw.secret_parameters ?? [],
    input: raw.input ?? null,
    data_source_id: raw.data_source_id ?? UNSPECIFIED_DATA_SOURCE,
    upload_destination_id: raw.upload_destination_id ?? null,
    compute_requirement_overrides: raw.compute_requirement_overrides ?? null,
    container_parameter_overrides: raw.container_parameter_overrides ?? null,
    timeout_minutes: raw.timeout_minutes ?? null,
    timeout_ms: raw.timeout_ms ?? null,
    org_id: raw.org_id ?? '',
    idempotency_id: raw.idempotency_id ?? null,
    dry_run: raw.dry_run ?? false,
    log_level: raw.log_level ?? 'INFO',
    provenance: raw.provenance ?? null,
    input_data: raw.input_data ?? [],
  };
}

/** A stored invocation as the SDK reads it (spec §2.2). */
export function invocationToWire(record: StoredInvocation, options: WireOptions): InvocationRecordWire {
  const request = withDefaults(record.request);
  const config = request.action.config;
  const statuses = sortStatuses(record.status);
  const current = statuses[statuses.length - 1]?.status ?? record.last_status;
  const compute = effectiveComputeRequirements(
    config.compute_requirements,
    request.compute_requirement_overrides,
  );
  const container = mergeContainerParameters(
    config.container_parameters,
    request.container_parameter_overrides,
  );
  const input = request.input;
  const provenance = request.provenance;
  return {
    invocation_id: record.invocation_id,
    org_id: record.org_id,
    created: record.created,
    data_source: { data_source_type: 'Dataset', data_source_id: request.data_source_id },
    input_data: request.input_data,
    rich_input_data:
      input === null || (!input.files?.length && !input.topics?.length)
        ? null
        : {
            files: input.files?.length ? input.files.map((selector) => ({ ...selector })) : null,
            topics: input.topics?.length ? input.topics.map((selector) => ({ ...selector })) : null,
          },
    upload_destination:
      request.upload_destination_id === null
        ? null
        : { destination_type: 'Dataset', destination_id: request.upload_destination_id },
    idempotency_id: request.idempotency_id,
    compute_requirements: {
      vCPU: compute.vCPU,
      memory: compute.memory,
      gpu: false,
      storage: compute.storage,
    },
    container_parameters: {
      command: container.command,
      entry_point: container.entry_point,
      env_vars: container.env_vars,
      workdir: container.workdir,
    },
    last_heartbeat: record.last_heartbeat,
    last_status: current,
    // Secret parameters hold `roboto-secret://` references (the request schema refuses values).
    parameter_values: { ...request.parameter_values },
    provenance: {
      action: provenance?.action ?? { name: config.name, org_id: record.org_id, digest: null },
      executable: {
        container_image_uri: request.action.image,
        container_image_digest: record.image?.digest ?? null,
      },
      source: provenance?.source ?? { source_type: 'Manual', source_id: LEGACY_SOURCE_ID },
    },
    status: statuses.map((entry) => ({
      status: entry.status,
      detail: entry.detail,
      timestamp: entry.timestamp,
    })),
    duration: isoDuration(runDurationMs(statuses, options.now ?? new Date())),
    timeout: effectiveTimeoutMinutes(request, options.defaultTimeoutMinutes),
  };
}
