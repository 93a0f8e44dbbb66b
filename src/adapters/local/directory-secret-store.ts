import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SecretStore } from '../../ports/secret-store.js';

const NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Secrets as files, one per name, the way a Kubernetes Secret is mounted: `<dir>/<org>/<name>` when it
 * exists, else `<dir>/<name>`. A trailing newline (as `echo` leaves) is not part of the value.
 */
export class DirectorySecretStore implements SecretStore {
  constructor(private readonly dir: string | null) {}

  async resolve(name: string, orgId: string): Promise<string | undefined> {
    if (this.dir === null || !NAME.test(name) || name.startsWith('.')) return undefined;
    const candidates = NAME.test(orgId) && !orgId.startsWith('.') ? [path.join(this.dir, orgId, name)] : [];
    candidates.push(path.join(this.dir, name));
    for (const file of candidates) {
      try {
        return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'ENOTDIR') throw error;
      }
    }
    return undefined;
  }
}
