import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { recordPrefix } from '../../src/adapters/bullmq/invocation-queue.js';
import { useTestQueue } from './daemon-harness.js';
import { tempDir } from './temp-dirs.js';

/**
 * The CLI under test for the enclosing describe block, on a {@link useTestQueue} of its own: `run` it,
 * `ok` (exit 0, stdout), JSON files to hand it, and the records it wrote, opened where the API reads them.
 */
export function useCliScaffold(overrides: Record<string, string> = {}) {
  const queue = useTestQueue(overrides);

  const run = (args: string[], env: Record<string, string> = {}) => queue().cli(args, env);

  async function ok(args: string[]): Promise<string> {
    const result = await run(args);
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  }

  /** A file of this content (JSON unless a string) in a directory of its own. */
  async function jsonFile(content: unknown, name = 'file.json'): Promise<string> {
    const file = path.join(await tempDir('cli-json'), name);
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  /** A store of the queue's Redis and record prefix (as serve opens it), closed after `use`. */
  async function withRecords<S extends { close(): Promise<void> }, T>(
    open: (options: { redis: string; prefix: string }) => S,
    use: (store: S) => Promise<T>,
  ): Promise<T> {
    const store = open({ redis: queue().location().url, prefix: recordPrefix(queue().location()) });
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  }

  /** `orgs create`: the new org's id. */
  const createOrg = async (name: string) => (await ok(['orgs', 'create', '--name', name])).trim();

  /** `orgs create`, then `actions create` of this action.json in the new org: the org's id. */
  async function orgWithAction(name: string, action: Record<string, unknown>): Promise<string> {
    const orgId = await createOrg(name);
    await ok(['actions', 'create', '--from-file', await jsonFile(action, 'action.json'), '--org', orgId]);
    return orgId;
  }

  return { queue, run, ok, jsonFile, withRecords, createOrg, orgWithAction };
}
