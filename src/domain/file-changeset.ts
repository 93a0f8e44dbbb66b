import { z } from 'zod';
import { MetadataChangeset, combineChangesets } from './metadata-changeset.js';

/**
 * The file metadata changeset JSONL the action writes through `context.file_changeset_manager`
 * (spec §4.4). In `update`, `{}` is the SDK's serialised "not set" sentinel.
 */

const NOT_SET = Symbol('not set');
type NotSet = typeof NOT_SET;

const notSetObject = z
  .object({})
  .strict()
  .transform((): NotSet => NOT_SET);

const UpdateFileRecordRequest = z.object({
  description: z.union([z.string(), z.null(), notSetObject]).default(NOT_SET as never),
  device_id: z.union([z.string(), z.null(), notSetObject]).optional(),
  // `{}` parses as an *empty changeset*, not as "not set": the fold relies on that.
  metadata_changeset: MetadataChangeset.optional(),
  ingestion_complete: z.union([z.literal(true), notSetObject]).optional(),
});

export const FilesChangesetItem = z.object({
  relative_path: z.string(),
  update: UpdateFileRecordRequest,
});

/** The folded update for one output path. `description` undefined = leave it; null = clear it. */
export interface FileUpdate {
  description?: string | null;
  metadataChangeset?: MetadataChangeset;
}

export type FoldResult =
  { ok: true; updates: Map<string, FileUpdate> } | { ok: false; lineNumber: number; reason: string };

/**
 * Folds the changeset file exactly as the SDK's output handler does: every line must validate or nothing
 * is applied; updates group by relative_path in file order; a later description replaces the earlier one;
 * changesets combine (so removes beat puts); device_id and ingestion_complete are never applied.
 */
export function foldFileChangeset(text: string): FoldResult {
  const folder = new FileChangesetFolder();
  for (const line of changesetLines(text)) if (!folder.add(line)) break;
  return folder.result();
}

/**
 * The same fold, pausing (`pause`, e.g. a `setImmediate`) every `linesPerSlice` lines: a changeset of tens
 * of MiB must not hold the worker's event loop, which keeps its leases and heartbeats, for seconds.
 */
export async function foldFileChangesetInSlices(
  text: string,
  pause: () => Promise<void>,
  linesPerSlice = 1000,
): Promise<FoldResult> {
  const folder = new FileChangesetFolder();
  let count = 0;
  for (const line of changesetLines(text)) {
    if (!folder.add(line)) break;
    count += 1;
    if (count % linesPerSlice === 0) await pause();
  }
  return folder.result();
}

/**
 * Python's readlines(): a final newline does not make an extra (empty) line, but a blank line in the middle
 * is a line, and it fails validation like any other malformed line. Lines are cut as they are read, so a
 * huge file is never split into one big array.
 */
function* changesetLines(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    yield text.slice(start, end);
    start = end + 1;
  }
}

/** Folds lines one at a time; the first line that fails stops it. */
class FileChangesetFolder {
  private readonly updates = new Map<string, FileUpdate>();
  private lineNumber = 0;
  private failure: { lineNumber: number; reason: string } | undefined;

  /** Takes the next line; false when it failed (the fold is then over). */
  add(line: string): boolean {
    this.lineNumber += 1;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      // The parser's message quotes the line, which is the action's output and may hold a secret.
      this.failure = { lineNumber: this.lineNumber, reason: 'invalid JSON' };
      return false;
    }
    const parsed = FilesChangesetItem.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.join('.') ?? '';
      this.failure = {
        lineNumber: this.lineNumber,
        reason: `${where || '(line)'}: ${issue?.message ?? 'invalid'}`,
      };
      return false;
    }
    const { relative_path: path, update } = parsed.data;
    const incoming: FileUpdate = {};
    if (update.description !== NOT_SET) incoming.description = update.description;
    if (update.metadata_changeset !== undefined) incoming.metadataChangeset = update.metadata_changeset;
    const existing = this.updates.get(path);
    if (existing === undefined) {
      this.updates.set(path, incoming);
      return true;
    }
    if ('description' in incoming) existing.description = incoming.description ?? null;
    // The SDK combines only when both sides carry a changeset; one arriving later for a path whose first
    // line had none is dropped, as there.
    if (existing.metadataChangeset && incoming.metadataChangeset) {
      existing.metadataChangeset = combineChangesets(existing.metadataChangeset, incoming.metadataChangeset);
    }
    return true;
  }

  result(): FoldResult {
    return this.failure === undefined ? { ok: true, updates: this.updates } : { ok: false, ...this.failure };
  }
}

/**
 * The dataset metadata changeset file (spec §4.5): empty or whitespace → no changeset; otherwise one
 * JSON object in MetadataChangeset shape, or (tolerated) JSON Lines of them, combined in order.
 */
export type DatasetChangesetResult =
  { ok: true; changeset: MetadataChangeset | null } | { ok: false; reason: string };

export function parseDatasetChangeset(text: string): DatasetChangesetResult {
  if (text.trim() === '') return { ok: true, changeset: null };
  const documents: unknown[] = [];
  try {
    documents.push(JSON.parse(text));
  } catch {
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    for (const [index, line] of lines.entries()) {
      try {
        documents.push(JSON.parse(line));
      } catch {
        // Not the parser's message: it quotes the line, which may hold a secret.
        return { ok: false, reason: `invalid JSON on line ${index + 1}` };
      }
    }
  }
  let combined: MetadataChangeset | null = null;
  for (const [index, document] of documents.entries()) {
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      return { ok: false, reason: `document ${index + 1} is not a JSON object` };
    }
    const parsed = MetadataChangeset.safeParse(document);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return { ok: false, reason: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
    }
    combined = combined === null ? parsed.data : combineChangesets(combined, parsed.data);
  }
  return { ok: true, changeset: combined };
}
