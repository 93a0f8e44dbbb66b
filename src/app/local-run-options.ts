import { readFile, stat } from 'node:fs/promises';
import { parse as parseLossless } from 'lossless-json';
import path from 'node:path';
import { type ActionConfig, parseActionConfigJson } from '../domain/action-config.js';
import { UsageError } from '../domain/errors.js';
import { isImagePathComponent } from '../domain/image-reference.js';
import { ownValue, parameterNameProblem } from '../domain/names.js';
import { secretUri } from '../domain/parameters.js';

/** What the `run` command was given, before any of it is checked. */
export interface LocalRunRequest {
  actionDir?: string;
  image?: string;
  inputDir?: string;
  outputDir?: string;
  /** Datasets in the store whose files are inputs (all of them, or those matching `files`). */
  datasets: string[];
  files: string[];
  query?: string;
  fileIds: string[];
  topics: string[];
  uploadTo?: string;
  params: string[];
  paramsFile?: string;
  secrets: string[];
  datasetId?: string;
  orgId?: string;
  timeout?: string;
  keepWorkspace: boolean;
  dryRun: boolean;
  logLevel: string;
}

export async function isDirectory(target: string): Promise<boolean> {
  return (await stat(target).catch(() => undefined))?.isDirectory() ?? false;
}

export async function isFile(target: string): Promise<boolean> {
  return (await stat(target).catch(() => undefined))?.isFile() ?? false;
}

/** Reads and validates ACTION_DIR/action.json. */
export async function loadActionDir(actionDir: string): Promise<ActionConfig> {
  if (!(await isDirectory(actionDir))) throw new UsageError(`action directory "${actionDir}" does not exist`);
  const file = path.join(actionDir, 'action.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new UsageError(`no action.json in "${actionDir}"`, 'E_INVALID_ACTION_CONFIG');
  }
  return parseActionConfigJson(text, file);
}

/** `NAME=VALUE` → [NAME, VALUE], splitting on the first "=". */
export function splitAssignment(text: string, flag: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`${flag} "${text}" must look like NAME=VALUE`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** --params-file (a JSON object) overlaid by --param flags. Values stay as given; the merge coerces them. */
export async function collectParameterValues(
  params: readonly string[],
  paramsFile?: string,
): Promise<Record<string, unknown>> {
  const values: Record<string, unknown> = {};
  if (paramsFile !== undefined) {
    let parsed: unknown;
    try {
      // Lossless, as action.json: a value of 1.0 must reach the parameters file as "1.0" (spec §5.1).
      parsed = parseLossless(await readFile(paramsFile, 'utf8'));
    } catch (error) {
      throw new UsageError(
        `--params-file "${paramsFile}": ${(error as Error).message}`,
        'E_INVALID_PARAMETER',
      );
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new UsageError(`--params-file "${paramsFile}" must hold a JSON object`, 'E_INVALID_PARAMETER');
    }
    // Checked before the copy: Object.assign would drop a "__proto__" key without a word.
    for (const name of Object.keys(parsed)) assertParameterName(name, `--params-file "${paramsFile}"`);
    Object.assign(values, parsed);
  }
  for (const param of params) {
    const [name, value] = splitAssignment(param, '--param');
    assertParameterName(name, '--param');
    values[name] = value;
  }
  return values;
}

/** Refuses a parameter name that cannot travel as data (see RESERVED_NAMES), naming it and the flag. */
export function assertParameterName(name: string, where: string): void {
  const problem = parameterNameProblem(name);
  if (problem !== undefined) throw new UsageError(`${where}: ${problem}`, 'E_INVALID_PARAMETER');
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/;

/**
 * `--secret NAME=SOURCE`: SOURCE is `env:VAR`, `file:PATH`, `literal:VALUE`, or a plain literal value.
 * A value that starts like some other `scheme:` is refused rather than guessed at.
 */
export async function resolveSecretSource(spec: string, env: NodeJS.ProcessEnv): Promise<[string, string]> {
  const [name, source] = splitAssignment(spec, '--secret');
  const scheme = SCHEME.exec(source)?.[1];
  let value: string;
  if (scheme === 'env') {
    const variable = source.slice('env:'.length);
    const found = env[variable];
    if (found === undefined || found === '') {
      throw new UsageError(
        `--secret ${name}: environment variable "${variable}" is not set`,
        'E_SECRET_NOT_FOUND',
      );
    }
    value = found;
  } else if (scheme === 'file') {
    const file = source.slice('file:'.length);
    try {
      value = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new UsageError(
        `--secret ${name}: cannot read "${file}": ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
        'E_SECRET_NOT_FOUND',
      );
    }
  } else if (scheme === 'literal') {
    value = source.slice('literal:'.length);
  } else if (scheme !== undefined) {
    throw new UsageError(
      `--secret ${name}: unknown source "${scheme}:"; use env:VAR, file:PATH or literal:VALUE`,
      'E_SECRET_NOT_FOUND',
    );
  } else {
    value = source;
  }
  if (value === '') throw new UsageError(`--secret ${name}: the secret is empty`, 'E_SECRET_NOT_FOUND');
  return [name, value];
}

/** Each --secret NAME becomes a parameter whose value is `roboto-secret://NAME`. */
export async function collectSecrets(
  specs: readonly string[],
  parameterValues: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Promise<Map<string, string>> {
  const secrets = new Map<string, string>();
  for (const spec of specs) {
    const [name, value] = await resolveSecretSource(spec, env);
    assertParameterName(name, '--secret');
    if (secrets.has(name)) throw new UsageError(`--secret ${name} is given twice`);
    if (ownValue(parameterValues, name) !== undefined) {
      throw new UsageError(
        `parameter "${name}" is given both as --secret and as a value`,
        'E_INVALID_PARAMETER',
      );
    }
    secrets.set(name, value);
    parameterValues[name] = secretUri(name);
  }
  return secrets;
}

/** A Docker repository name from an action name (lowercase; `[a-z0-9]` runs separated by `.`, `_` or `-`). */
export function imageTagFor(actionName: string): string {
  if (!isImagePathComponent(actionName)) {
    throw new UsageError(
      `action name "${actionName}" cannot be used as an image name: use lowercase letters, digits, ".", "_" and "-"`,
      'E_INVALID_ACTION_CONFIG',
    );
  }
  return `${actionName}:latest`;
}

/**
 * With no action.json nothing is declared, so every supplied parameter is taken as declared (optional,
 * no default); with one, its declarations stand.
 */
export function declareSuppliedParameters(
  action: ActionConfig,
  parameterValues: Record<string, unknown>,
  hasActionConfig: boolean,
): void {
  if (hasActionConfig) return;
  action.parameters = Object.keys(parameterValues).map((name) => ({
    name,
    required: false,
    description: null,
    default: null,
  }));
}
