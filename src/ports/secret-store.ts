/** Resolves a secret by name (and owning org) to its value (spec §5.4). */
export interface SecretStore {
  /** The value, or undefined when no such secret exists. */
  resolve(name: string, orgId: string): Promise<string | undefined>;
}
