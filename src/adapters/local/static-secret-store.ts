import type { SecretStore } from '../../ports/secret-store.js';

/** Secrets given up front (the local run's --secret flags), by name, for any org. */
export class StaticSecretStore implements SecretStore {
  constructor(private readonly secrets: ReadonlyMap<string, string>) {}

  resolve(name: string): Promise<string | undefined> {
    return Promise.resolve(this.secrets.get(name));
  }
}
