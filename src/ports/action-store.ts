import type { ActionRecord } from '../domain/action-record.js';

/**
 * Reading registered actions: what invoking by name needs (spec A8, §4.3). The full store (create, update
 * as a new version, delete, accessibility, query) extends it.
 */
export interface ActionLookup {
  /**
   * The version of action `name` owned by `orgId` with this digest, or its latest version when no digest is
   * given; undefined when there is no such action or version. Visibility (accessibility) is the caller's
   * to check.
   */
  getAction(orgId: string, name: string, digest?: string): Promise<ActionRecord | undefined>;
}
