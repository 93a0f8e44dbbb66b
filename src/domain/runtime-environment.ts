import type { MergedParameters } from './parameters.js';
import type { WorkspaceLayout } from './workspace-layout.js';

export type RobotoLogLevel = 'ERROR' | 'WARNING' | 'INFO' | 'DEBUG';

export interface RuntimeEnvironmentInput {
  datasetId: string;
  invocationId: string;
  orgId: string;
  /** Container paths. */
  layout: WorkspaceLayout;
  apiKey: string;
  serviceEndpoint: string;
  isDryRun: boolean;
  logLevel: RobotoLogLevel;
  /** `ROBOTO_ENV`, e.g. "LOCAL (host)" or "action-worker (worker-1)". */
  environmentLabel: string;
  timeoutMinutes: number;
  parameters: MergedParameters;
  /** The effective container_parameters.env_vars. */
  containerEnv: Readonly<Record<string, string>> | null;
}

export interface RuntimeEnvironment {
  /** Name → value, in the order they are passed to Docker. */
  env: Map<string, string>;
  /** ROBOTO_* names left out because their value was the empty string (it breaks the SDK's settings). */
  droppedEmpty: string[];
}

/**
 * The container environment (spec §1, §9.3): the action's env_vars first, then the runtime ROBOTO_*
 * variables, which win, except ROBOTO_LOG_LEVEL, which env_vars may set. ROBOTO_PARAM_<name> is set for
 * every merged parameter, verbatim, plus an upper-cased alias where that differs and collides with
 * nothing. No ROBOTO_* variable is ever set to the empty string.
 */
export function buildRuntimeEnvironment(input: RuntimeEnvironmentInput): RuntimeEnvironment {
  const env = new Map<string, string>(Object.entries(input.containerEnv ?? {}));
  const { layout } = input;
  const runtime: [string, string][] = [
    ['ROBOTO_DATASET_ID', input.datasetId],
    ['ROBOTO_INVOCATION_ID', input.invocationId],
    ['ROBOTO_ORG_ID', input.orgId],
    ['ROBOTO_INPUT_DIR', layout.inputDir],
    ['ROBOTO_OUTPUT_DIR', layout.outputDir],
    ['ROBOTO_API_KEY', input.apiKey],
    ['ROBOTO_SERVICE_ENDPOINT', input.serviceEndpoint],
    // Read as the API base by old (SDK 0.x) images.
    ['ROBOTO_SERVICE_URL', input.serviceEndpoint],
    ['ROBOTO_ACTION_PARAMETERS_FILE', layout.parametersFile],
    ['ROBOTO_ACTION_RUNTIME_CONFIG_DIR', layout.runtimeConfigDir],
    ['ROBOTO_ACTION_INPUTS_MANIFEST', layout.inputsManifest],
    ['ROBOTO_FILE_METADATA_CHANGESET_FILE', layout.fileChangesetFile],
    ['ROBOTO_DATASET_METADATA_CHANGESET_FILE', layout.datasetChangesetFile],
    ['ROBOTO_DRY_RUN', input.isDryRun ? 'true' : 'false'],
    ['ROBOTO_ENV', input.environmentLabel],
    ['ROBOTO_ACTION_TIMEOUT', String(input.timeoutMinutes)],
    ['HOME', layout.root],
  ];
  for (const [name, value] of runtime) env.set(name, value);
  if (!input.containerEnv?.ROBOTO_LOG_LEVEL) env.set('ROBOTO_LOG_LEVEL', input.logLevel);

  const verbatim = new Set([...input.parameters.keys()].map((name) => `ROBOTO_PARAM_${name}`));
  const aliasCounts = new Map<string, number>();
  for (const name of input.parameters.keys()) {
    const alias = `ROBOTO_PARAM_${name.toUpperCase()}`;
    aliasCounts.set(alias, (aliasCounts.get(alias) ?? 0) + 1);
  }
  for (const [name, value] of input.parameters) {
    if (value === null) continue;
    env.set(`ROBOTO_PARAM_${name}`, value);
  }
  for (const [name, value] of input.parameters) {
    const alias = `ROBOTO_PARAM_${name.toUpperCase()}`;
    if (value === null || verbatim.has(alias) || aliasCounts.get(alias) !== 1) continue;
    env.set(alias, value);
  }

  const droppedEmpty: string[] = [];
  for (const [name, value] of env) {
    if (name.startsWith('ROBOTO_') && value === '') {
      env.delete(name);
      droppedEmpty.push(name);
    }
  }
  return { env, droppedEmpty };
}

export function toDockerEnv(env: ReadonlyMap<string, string>): string[] {
  return [...env].map(([name, value]) => `${name}=${value}`);
}
