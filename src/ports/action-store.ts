import type { ActionQuery } from '../domain/action-query.js';
import type { Accessibility, ActionRecord } from '../domain/action-record.js';
import type { Page } from '../domain/store-query.js';

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

/** Which actions a query looks at: one org's, or every org's `action_hub` actions (spec A6, A7). */
export type ActionQueryScope = { orgId: string } | { actionHub: true };

/**
 * Registered actions, every version of each (spec §4.1.2): an append-only list of versions per
 * (org, name), with the action-wide accessibility and `published` shown on every version. The records it
 * is given are made by the domain's rules (domain/action-versions.ts); the store keeps them atomically.
 */
export interface ActionStore extends ActionLookup {
  /**
   * Stores version 1 of a new action, or throws ActionExistsError when an action of that name exists in
   * its org (nothing is written then).
   */
  createAction(record: ActionRecord): Promise<ActionRecord>;
  /**
   * Appends the version `next` makes from the latest one, atomically: when another update lands in
   * between, `next` runs again on the newer latest, so no update is lost. Undefined when the action does
   * not exist; whatever `next` throws (a refused update) is thrown, nothing written.
   */
  updateAction(
    orgId: string,
    name: string,
    next: (latest: ActionRecord) => ActionRecord,
  ): Promise<ActionRecord | undefined>;
  /** Every version, oldest first; empty when the action does not exist. */
  listVersions(orgId: string, name: string): Promise<ActionRecord[]>;
  /** Deletes the action and all its versions: false when there was none. */
  deleteAction(orgId: string, name: string): Promise<boolean>;
  /**
   * Sets the action's accessibility (no new version, same digest; spec A5, domain changeAccessibility) and
   * answers its latest version; undefined when the action does not exist.
   */
  setAccessibility(
    orgId: string,
    name: string,
    accessibility: Accessibility,
    now?: Date,
  ): Promise<ActionRecord | undefined>;
  /** The latest version of each action in scope that matches, one page of them (domain pageActions). */
  queryActions(scope: ActionQueryScope, query: ActionQuery): Promise<Page<ActionRecord>>;
}
