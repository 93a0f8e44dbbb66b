import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Node } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../domain/errors.js';
import { PLACEHOLDER_API_KEY, WorkerSettings, environmentOverrides } from './worker-settings.js';

/** Where the settings come from, lowest precedence first: defaults < file < environment < flags. */
export interface SettingsSources {
  /** A YAML configuration file (else `ACTION_WORKER_CONFIG`, else none). */
  configFile?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** Settings given as command-line flags, in the schema's shape. */
  flags?: Record<string, unknown>;
}

export interface LoadedSettings {
  settings: WorkerSettings;
  configFile: string | null;
}

interface ConfigFile {
  path: string;
  input: Record<string, unknown>;
  /** "line L, column C" of the value at a setting path, when the file sets it. */
  locate: (settingPath: readonly PropertyKey[]) => string | undefined;
}

function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `configuration file "${file}" cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  // The YAML parser is loaded only when there is a file to parse: a run without one starts faster.
  const { LineCounter, isNode, parseDocument } = createRequire(import.meta.url)('yaml') as typeof Yaml;
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (document.errors.length > 0) {
    // Each message says where ("at line L, column C") and shows the line.
    const problems = document.errors.map((error) => error.message.trimEnd());
    throw new UsageError(`configuration file "${file}" is not valid YAML:\n  ${problems.join('\n  ')}`);
  }
  const input: unknown = document.toJS() ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new UsageError(
      `configuration file "${file}" must hold a mapping of settings (see config/worker.example.yaml)`,
    );
  }
  const locate = (settingPath: readonly PropertyKey[]): string | undefined => {
    // The value's node, or the nearest enclosing one the file has.
    for (let depth = settingPath.length; depth > 0; depth -= 1) {
      const node: unknown = document.getIn(settingPath.slice(0, depth) as unknown[], true);
      if (isNode(node) && (node as Node).range) {
        const { line, col } = lineCounter.linePos((node as Node).range?.[0] ?? 0);
        return `line ${line}, column ${col}`;
      }
    }
    return undefined;
  };
  return { path: file, input: dropEmptyGroups(input as Record<string, unknown>, DEFAULTS), locate };
}

/** A group left with every setting commented out (`capacity:`) reads as null: it means "all defaults". */
function dropEmptyGroups(
  input: Record<string, unknown>,
  defaults: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const groupDefaults = defaults[key];
    if (!isPlainObject(groupDefaults)) out[key] = value;
    else if (isPlainObject(value)) out[key] = dropEmptyGroups(value, groupDefaults);
    else if (value !== null) out[key] = value;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `over` laid on `under`, objects merged key by key (arrays and scalars replaced). */
function deepMerge(under: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    const existing = out[key];
    out[key] = isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value;
  }
  return out;
}

/** Keys of `input` the schema does not know (it strips them from `output`), as dotted paths. */
function unknownKeys(
  input: Record<string, unknown>,
  output: Record<string, unknown>,
  prefix: string[] = [],
): string[][] {
  const found: string[][] = [];
  for (const [key, value] of Object.entries(input)) {
    if (!Object.hasOwn(output, key)) found.push([...prefix, key]);
    else if (isPlainObject(value) && isPlainObject(output[key])) {
      found.push(...unknownKeys(value, output[key], [...prefix, key]));
    }
  }
  return found;
}

function hasPath(input: Record<string, unknown>, settingPath: readonly PropertyKey[]): boolean {
  let current: unknown = input;
  for (const key of settingPath) {
    if (!isPlainObject(current) || !Object.hasOwn(current, key)) return false;
    current = current[key as string];
  }
  return true;
}

/**
 * The worker's settings: defaults, then the configuration file, then the environment, then flags. Every
 * problem is reported at once, each naming its setting and where it came from (the file's line, or the
 * environment variable); a key the schema does not know is a problem too.
 */
export function loadSettings(sources: SettingsSources): LoadedSettings {
  const filePath = sources.configFile ?? (sources.env.ACTION_WORKER_CONFIG || undefined);
  const file = filePath === undefined ? undefined : readConfigFile(filePath);
  const environment = environmentOverrides(sources.env);
  const flags = sources.flags ?? {};
  const merged = deepMerge(deepMerge(file?.input ?? {}, environment.input), flags);
  const result = WorkerSettings.safeParse(merged);
  const problems: string[] = [];
  const where = (settingPath: readonly PropertyKey[]): string => {
    const dotted = settingPath.map(String).join('.');
    if (hasPath(flags, settingPath)) return `${dotted} (command line)`;
    const variable = environment.sources.get(dotted);
    if (variable !== undefined) return `${dotted} (from ${variable})`;
    const at = file?.locate(settingPath);
    return at === undefined ? dotted : `${dotted} (${file?.path ?? ''}, ${at})`;
  };
  if (file !== undefined) {
    // Every setting has a default, so the defaults have every key: anything else in the file is a typo.
    for (const settingPath of unknownKeys(file.input, DEFAULTS)) {
      problems.push(`${where(settingPath)}: not a setting (see config/worker.example.yaml)`);
    }
  }
  if (!result.success) {
    for (const issue of (result.error as z.ZodError).issues)
      problems.push(`${where(issue.path)}: ${issue.message}`);
  }
  if (problems.length > 0 || !result.success) {
    throw new UsageError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return { settings: result.data, configFile: filePath ?? null };
}

const REDACTED = '***';

const DEFAULTS = WorkerSettings.parse({}) as unknown as Record<string, unknown>;

/**
 * A URL with its password replaced (in its user info, and a `password=` query parameter, which libpq and
 * node-postgres accept too); a value that is no URL (a file path) unchanged. Done on the text, not through
 * `new URL`: it refuses forms the clients accept (`postgres://u:pw@/db?host=/socket`), which would be shown
 * whole.
 */
export function redactUrlPassword(value: string): string {
  const url = /^([a-z][a-z\d+.-]*:\/\/)([^/?#]*)(.*)$/is.exec(value);
  if (url === null) return value;
  const [, scheme = '', authority = '', rest = ''] = url;
  const at = authority.lastIndexOf('@');
  const colon = authority.indexOf(':');
  const userInfo =
    at >= 0 && colon >= 0 && colon < at
      ? `${authority.slice(0, colon + 1)}${REDACTED}${authority.slice(at)}`
      : authority;
  return scheme + userInfo + rest.replace(/([?&]password=)[^&#]*/gi, `$1${REDACTED}`);
}

/**
 * The settings with every secret replaced: the API key, and the passwords of the Redis URL and of the
 * store's database URL.
 */
export function redactSettings(settings: WorkerSettings): WorkerSettings {
  return {
    ...settings,
    store: {
      ...settings.store,
      database: settings.store.database === null ? null : redactUrlPassword(settings.store.database),
    },
    roboto: {
      ...settings.roboto,
      apiKey: settings.roboto.apiKey === PLACEHOLDER_API_KEY ? settings.roboto.apiKey : REDACTED,
    },
    redis: { ...settings.redis, url: redactUrlPassword(settings.redis.url) },
    api: { ...settings.api, signingSecret: settings.api.signingSecret === null ? null : REDACTED },
  };
}
