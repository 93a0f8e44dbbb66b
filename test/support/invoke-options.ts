import type { InvokeOptions } from '../../src/app/invocations.js';

/** `invoke`'s options as the CLI passes them with no flag given, plus `overrides`. */
export function invokeOptions(overrides: Partial<InvokeOptions> = {}): InvokeOptions {
  return {
    datasets: [],
    files: [],
    fileIds: [],
    params: [],
    secrets: [],
    dryRun: false,
    logLevel: 'INFO',
    ...overrides,
  };
}
