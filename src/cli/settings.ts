import { loadSettings } from '../config/load-settings.js';
import type { WorkerSettings } from '../config/worker-settings.js';

/** The global `--config FILE`, set before any command runs. */
let configFile: string | undefined;

export function useConfigFile(file: string | undefined): void {
  configFile = file;
}

/** The settings every command runs with: defaults < --config file < environment < `flags`. */
export function cliSettings(flags?: Record<string, unknown>): WorkerSettings {
  return loadSettings({ configFile, env: process.env, ...(flags ? { flags } : {}) }).settings;
}

export function cliSettingsWithSource(): ReturnType<typeof loadSettings> {
  return loadSettings({ configFile, env: process.env });
}
