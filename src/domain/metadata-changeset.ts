import { z } from 'zod';
import { laxBool } from './lax.js';

/** Tag and metadata-field changes for a file or a dataset (spec §4.6). */
export const MetadataChangeset = z.object({
  put_tags: z.array(z.string()).nullable().default(null),
  remove_tags: z.array(z.string()).nullable().default(null),
  put_fields: z.record(z.string(), z.unknown()).nullable().default(null),
  remove_fields: z.array(z.string()).nullable().default(null),
  replace_all: laxBool().default(false),
});
export type MetadataChangeset = z.output<typeof MetadataChangeset>;

export type JsonObject = Record<string, unknown>;

export const EMPTY_CHANGESET: MetadataChangeset = {
  put_tags: null,
  remove_tags: null,
  put_fields: null,
  remove_fields: null,
  replace_all: false,
};

/** A changeset is empty when replace_all is false and every list and dict is empty or null. */
export function isEmptyChangeset(changeset: MetadataChangeset): boolean {
  return (
    !changeset.replace_all &&
    !changeset.put_tags?.length &&
    !changeset.remove_tags?.length &&
    !changeset.remove_fields?.length &&
    Object.keys(changeset.put_fields ?? {}).length === 0
  );
}

/** Thrown when a dotted path cannot be walked (a list index out of range, a scalar in the way). */
export class MetadataPathError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`cannot apply field "${key}": ${reason}`);
    this.name = 'MetadataPathError';
  }
}

/** Tags after the changeset: puts appended when absent (existing order kept), then removes dropped. */
export function applyTagUpdates(existing: readonly string[], changeset: MetadataChangeset): string[] {
  if (changeset.replace_all) return [...(changeset.put_tags ?? [])];
  const tags = [...existing];
  for (const tag of changeset.put_tags ?? []) if (!tags.includes(tag)) tags.push(tag);
  const removed = new Set(changeset.remove_tags ?? []);
  return tags.filter((tag) => !removed.has(tag));
}

/** Metadata after the changeset: a deep copy, every put in key order, then every remove. */
export function applyFieldUpdates(existing: JsonObject, changeset: MetadataChangeset): JsonObject {
  if (changeset.replace_all) return structuredClone(changeset.put_fields ?? {});
  const metadata = structuredClone(existing);
  for (const [key, value] of Object.entries(changeset.put_fields ?? {})) {
    putPath(metadata, key, structuredClone(value));
  }
  for (const key of changeset.remove_fields ?? []) removePath(metadata, key);
  return metadata;
}

export function applyChangeset(
  target: { tags: readonly string[]; metadata: JsonObject },
  changeset: MetadataChangeset,
): { tags: string[]; metadata: JsonObject } {
  return {
    tags: applyTagUpdates(target.tags, changeset),
    metadata: applyFieldUpdates(target.metadata, changeset),
  };
}

/**
 * Combines two changesets the way the SDK's file-changeset fold does: tag and remove lists become set
 * unions (first-seen order here; the SDK's order is arbitrary), put_fields merge with `b` winning, empty
 * results become null, and replace_all always comes out false. Removes therefore beat puts.
 */
export function combineChangesets(a: MetadataChangeset, b: MetadataChangeset): MetadataChangeset {
  const union = (x: string[] | null, y: string[] | null): string[] | null => {
    const merged = [...new Set([...(x ?? []), ...(y ?? [])])];
    return merged.length === 0 ? null : merged;
  };
  const fields = { ...a.put_fields, ...b.put_fields };
  return {
    put_tags: union(a.put_tags, b.put_tags),
    remove_tags: union(a.remove_tags, b.remove_tags),
    put_fields: Object.keys(fields).length === 0 ? null : fields,
    remove_fields: union(a.remove_fields, b.remove_fields),
    replace_all: false,
  };
}

type Container = JsonObject | unknown[];

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Python int() of a path part, or undefined. */
function toIndex(part: string): number | undefined {
  const trimmed = part.trim();
  return /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : undefined;
}

/** Python list indexing: negative counts from the end; undefined when out of range. */
function resolveIndex(list: readonly unknown[], part: string): number | undefined {
  const index = toIndex(part);
  if (index === undefined) return undefined;
  const resolved = index < 0 ? list.length + index : index;
  return resolved >= 0 && resolved < list.length ? resolved : undefined;
}

/**
 * Keys that would reach an object's prototype instead of the object: the action writes the changesets, so
 * a path through one of these could change every object in the worker.
 */
const FORBIDDEN_PARTS = new Set(['__proto__', 'constructor', 'prototype']);

function splitPath(key: string): string[] {
  const parts = key.split('.');
  const forbidden = parts.find((part) => FORBIDDEN_PARTS.has(part));
  if (forbidden !== undefined)
    throw new MetadataPathError(key, `"${forbidden}" is not allowed in a field path`);
  return parts;
}

/** `{"a.b": 1}` on `{}` gives `{"a": {"b": 1}}`; in a list the last part inserts at that index. */
export function putPath(root: JsonObject, key: string, value: unknown): void {
  const parts = splitPath(key);
  const last = parts.pop() ?? key;
  let node: Container = root;
  for (const part of parts) {
    if (Array.isArray(node)) {
      const index = resolveIndex(node, part);
      if (index === undefined) throw new MetadataPathError(key, `list index "${part}" is out of range`);
      node = descend(node[index], key, part);
    } else {
      if (!Object.hasOwn(node, part)) node[part] = {};
      node = descend(node[part], key, part);
    }
  }
  if (Array.isArray(node)) {
    const index = toIndex(last);
    if (index === undefined) throw new MetadataPathError(key, `"${last}" is not a list index`);
    // Python's list.insert clamps the index into range.
    const at = index < 0 ? Math.max(0, node.length + index) : Math.min(index, node.length);
    node.splice(at, 0, value);
  } else {
    node[last] = value;
  }
}

function descend(child: unknown, key: string, part: string): Container {
  if (Array.isArray(child) || isObject(child)) return child;
  throw new MetadataPathError(
    key,
    `"${part}" holds a ${child === null ? 'null' : typeof child}, not an object or list`,
  );
}

/** Removes a dotted path if it exists, then prunes every container the removal left empty (never the root). */
export function removePath(root: JsonObject, key: string): void {
  const parts = splitPath(key);
  const chain: { container: Container; part: string }[] = [];
  let node: unknown = root;
  for (const part of parts) {
    if (Array.isArray(node)) {
      const index = resolveIndex(node, part);
      if (index === undefined) return;
      chain.push({ container: node, part: String(index) });
      node = node[index];
    } else if (isObject(node)) {
      if (!Object.hasOwn(node, part)) return;
      chain.push({ container: node, part });
      node = node[part];
    } else {
      return;
    }
  }
  for (let level = chain.length - 1; level >= 0; level -= 1) {
    const { container, part } = chain[level] ?? { container: root, part: '' };
    if (level < chain.length - 1) {
      const child = Array.isArray(container) ? container[Number(part)] : container[part];
      const isEmpty = Array.isArray(child)
        ? child.length === 0
        : isObject(child) && Object.keys(child).length === 0;
      if (!isEmpty) return;
    }
    if (Array.isArray(container)) container.splice(Number(part), 1);
    else Reflect.deleteProperty(container, part);
  }
}
