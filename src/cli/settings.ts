import type { loadSettings as LoadSettings } from '../config/load-settings.js';
import type { WorkerSettings } from '../config/worker-settings.js';

/** The global `--config FILE`, set before any command runs. */
let configFile: string | undefined;

export function useConfigFile(file: string | undefined): void {
  configFile = file;
}

/** The settings schema and YAML parser, loaded by the commands that read settings (not `--help`). */
async function loadSettings(
  ...args: Parameters<typeof LoadSettings>
): Promise<ReturnType<typeof LoadSettings>> {
  const settings = await import('../config/load-settings.js');
  return settings.loadSettings(...args);
}

/** The settings every command runs with: defaults < --config file < environment < `flags`. */
export async function cliSettings(flags?: Record<string, unknown>): Promise<WorkerSettings> {
  return (await loadSettings({ configFile, env: process.env, ...(flags ? { flags } : {}) })).settings;
}

export async function cliSettingsWithSource(): Promise<ReturnType<typeof LoadSettings>> {
  return loadSettings({ configFile, env: process.env });
}
