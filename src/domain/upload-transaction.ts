import { z } from 'zod';
import { UsageError } from './errors.js';
import { safeRelativePath } from './relative-path.js';

/** The most files one upload transaction may declare (the SDK sends at most 500 per transaction). */
export const MAX_MANIFEST_ENTRIES = 10_000;
/** The longest dataset path a manifest may name, in UTF-8 bytes. */
export const MAX_MANIFEST_PATH_BYTES = 1024;
/** How long a transaction is kept, from its begin: its bytes must arrive and it must complete within it. */
export const UPLOAD_TRANSACTION_TTL_MS = 24 * 60 * 60_000;

/** A transaction id: ours (`ut_…`), so it is also a safe directory name for its staged bytes. */
export const UploadTransactionId = z.string().regex(/^ut_[0-9a-z]{12,40}$/, 'not an upload transaction id');

/** One declared file: its dataset path and its size. Its place in the manifest names its staged bytes. */
export const ManifestEntry = z.object({
  path: z.string().min(1),
  size_bytes: z.number().int().nonnegative(),
});
export type ManifestEntry = z.output<typeof ManifestEntry>;

/**
 * An upload transaction (spec §11.2 "Begin upload" … "Complete upload"): what was declared at its begin,
 * and how far it got. Kept until `expires`, completed or not.
 */
export const UploadTransaction = z.object({
  transaction_id: UploadTransactionId,
  org_id: z.string().min(1),
  dataset_id: z.string().min(1),
  origination: z.string(),
  /** The declared files, by path (sorted, each path once). */
  manifest: z.array(ManifestEntry),
  /** The id of the token that began it (never the token). */
  created_by: z.string(),
  created: z.string(),
  expires: z.string(),
  /** The invocation whose token began it: the files' lineage. Null for an org's API token. */
  source_invocation_id: z.string().nullable(),
  /** `completing` from the moment a complete starts storing the files (its bytes take no more PUTs). */
  status: z.enum(['pending', 'completing', 'completed']),
  /** The paths whose arrival a progress report confirmed, sorted. */
  reported: z.array(z.string()),
  /** Once completed: the ids of the files it stored. */
  file_ids: z.array(z.string()),
  completed: z.string().nullable(),
});
export type UploadTransaction = z.output<typeof UploadTransaction>;

/** What a begin fixes: the transaction without its progress. */
export type NewUploadTransaction = Omit<UploadTransaction, 'status' | 'reported' | 'file_ids' | 'completed'>;

/**
 * The manifest of a begin (`{"<dest path>": <bytes>}`), checked and sorted by path: at most
 * MAX_MANIFEST_ENTRIES entries, at least one; each path a safe dataset path already in its normal form (no
 * `..`, no leading `/`, no `.` or empty segment, no trailing `/`), each size a non-negative whole number.
 * A refusal (UsageError, E_INVALID_INPUT) names the path.
 */
export function checkManifest(manifest: Record<string, unknown>): ManifestEntry[] {
  const paths = Object.keys(manifest);
  if (paths.length === 0) throw new UsageError('resource_manifest names no file', 'E_INVALID_INPUT');
  if (paths.length > MAX_MANIFEST_ENTRIES) {
    throw new UsageError(
      `resource_manifest names ${paths.length} files; at most ${MAX_MANIFEST_ENTRIES} per transaction`,
      'E_INVALID_INPUT',
    );
  }
  const entries: ManifestEntry[] = [];
  for (const path of paths) {
    const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}…` : path);
    if (Buffer.byteLength(path, 'utf8') > MAX_MANIFEST_PATH_BYTES) {
      throw new UsageError(
        `resource_manifest path ${shown} is longer than ${MAX_MANIFEST_PATH_BYTES} bytes`,
        'E_INVALID_INPUT',
      );
    }
    const normal = safeRelativePath(path, `resource_manifest path ${shown}`);
    if (normal !== path || path.endsWith('/') || path.split('/').includes('')) {
      throw new UsageError(
        `resource_manifest path ${shown} is not a plain dataset path (write it as "${normal.replace(/\/+$/, '')}")`,
        'E_INVALID_INPUT',
      );
    }
    const size = manifest[path];
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new UsageError(
        `resource_manifest size of ${shown} must be a non-negative whole number of bytes`,
        'E_INVALID_INPUT',
      );
    }
    entries.push({ path, size_bytes: size });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The place of `path` in a checked manifest (the name of its staged bytes), or -1 when it is not there. */
export function manifestIndex(manifest: readonly ManifestEntry[], path: string): number {
  let low = 0;
  let high = manifest.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const found = (manifest[middle] as ManifestEntry).path;
    if (found === path) return middle;
    if (found < path) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

/** Python's quote(text, safe=""): every byte but A–Z a–z 0–9 _ . - ~ as %XX (spec §1.2). */
function quoteNothingSafe(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Where a file's bytes go on this server (its upload mapping, less the server's address):
 * `/v1/files/upload/{txn}/content/{quote(path, safe="")}`.
 */
export function uploadContentPath(transactionId: string, datasetPath: string): string {
  return `/v1/files/upload/${encodeURIComponent(transactionId)}/content/${quoteNothingSafe(datasetPath)}`;
}
