import { z } from 'zod';
import { formatZodIssue } from './errors.js';
import { MetadataChangeset } from './metadata-changeset.js';

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

/** Lines (or documents) handled between two pauses of a sliced fold. */
const LINES_PER_SLICE = 1000;

/**
 * Folds the changeset file exactly as the SDK's output handler does: every line must validate or nothing
 * is applied; updates group by relative_path in file order; a later description replaces the earlier one;
 * changesets combine (so removes beat puts); device_id and ingestion_complete are never applied.
 */
export function foldFileChangeset(text: string): FoldResult {
  return drain(foldSteps(text));
}

/**
 * The same fold, awaiting `pause` (e.g. a `setImmediate`) every thousand lines: a changeset of tens of MiB
 * must not hold the worker's event loop, which keeps its leases and heartbeats, for seconds.
 */
export async function foldFileChangesetInSlices(
  text: string,
  pause: () => Promise<void>,
): Promise<FoldResult> {
  return drainPausing(foldSteps(text), pause);
}

/**
 * The dataset metadata changeset file (spec §4.5): empty or whitespace → no changeset; otherwise one
 * JSON object in MetadataChangeset shape, or (tolerated) JSON Lines of them, combined in order.
 */
export type DatasetChangesetResult =
  { ok: true; changeset: MetadataChangeset | null } | { ok: false; reason: string };

export function parseDatasetChangeset(text: string): DatasetChangesetResult {
  return drain(datasetSteps(text));
}

/** The same, awaiting `pause` every thousand lines. */
export async function parseDatasetChangesetInSlices(
  text: string,
  pause: () => Promise<void>,
): Promise<DatasetChangesetResult> {
  return drainPausing(datasetSteps(text), pause);
}

/** Runs a fold that yields between slices to its end at once. */
function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

async function drainPausing<T>(steps: Generator<void, T>, pause: () => Promise<void>): Promise<T> {
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    await pause();
  }
}

function* foldSteps(text: string): Generator<void, FoldResult> {
  const folder = new FileChangesetFolder();
  let count = 0;
  for (const line of changesetLines(text)) {
    if (!folder.add(line)) break;
    count += 1;
    if (count % LINES_PER_SLICE === 0) yield;
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

/**
 * Changesets combined in order exactly as combineChangesets() (metadata-changeset.ts) combines them, but in place: folding n
 * changesets costs their total size, where combining them pairwise copied the growing result n times.
 */
class ChangesetAccumulator {
  private count = 0;
  private first: MetadataChangeset | undefined;
  private readonly putTags = new Set<string>();
  private readonly removeTags = new Set<string>();
  private readonly removeFields = new Set<string>();
  // A Map, not an object: a key such as "__proto__" stays a plain key.
  private readonly fields = new Map<string, unknown>();

  add(changeset: MetadataChangeset): void {
    this.count += 1;
    this.first ??= changeset;
    for (const tag of changeset.put_tags ?? []) this.putTags.add(tag);
    for (const tag of changeset.remove_tags ?? []) this.removeTags.add(tag);
    for (const field of changeset.remove_fields ?? []) this.removeFields.add(field);
    for (const [key, value] of Object.entries(changeset.put_fields ?? {})) this.fields.set(key, value);
  }

  result(): MetadataChangeset | null {
    if (this.count <= 1) return this.first ?? null;
    const list = (set: Set<string>): string[] | null => (set.size === 0 ? null : [...set]);
    return {
      put_tags: list(this.putTags),
      remove_tags: list(this.removeTags),
      put_fields: this.fields.size === 0 ? null : Object.fromEntries(this.fields),
      remove_fields: list(this.removeFields),
      replace_all: false,
    };
  }
}

/** Folds lines one at a time; the first line that fails stops it. */
class FileChangesetFolder {
  private readonly updates = new Map<
    string,
    { description?: string | null; changeset?: ChangesetAccumulator }
  >();
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
      this.failure = { lineNumber: this.lineNumber, reason: firstIssue(parsed.error) };
      return false;
    }
    const { relative_path: path, update } = parsed.data;
    let entry = this.updates.get(path);
    const isFirst = entry === undefined;
    if (entry === undefined) {
      entry = {};
      this.updates.set(path, entry);
    }
    if (update.description !== NOT_SET) entry.description = update.description ?? null;
    if (update.metadata_changeset !== undefined) {
      // The SDK combines only when both sides carry a changeset; one arriving later for a path whose first
      // line had none is dropped, as there.
      if (isFirst) entry.changeset = new ChangesetAccumulator();
      entry.changeset?.add(update.metadata_changeset);
    }
    return true;
  }

  result(): FoldResult {
    if (this.failure !== undefined) return { ok: false, ...this.failure };
    const updates = new Map<string, FileUpdate>();
    for (const [path, entry] of this.updates) {
      const update: FileUpdate = {};
      if ('description' in entry) update.description = entry.description;
      const changeset = entry.changeset?.result();
      if (changeset) update.metadataChangeset = changeset;
      updates.set(path, update);
    }
    return { ok: true, updates };
  }
}

function* datasetSteps(text: string): Generator<void, DatasetChangesetResult> {
  if (text.trim() === '') return { ok: true, changeset: null };
  const documents: unknown[] = [];
  try {
    documents.push(JSON.parse(text));
  } catch {
    let index = 0;
    for (const line of changesetLines(text)) {
      if (line.trim() === '') continue;
      index += 1;
      try {
        documents.push(JSON.parse(line));
      } catch {
        // Not the parser's message: it quotes the line, which may hold a secret.
        return { ok: false, reason: `invalid JSON on line ${index}` };
      }
      if (index % LINES_PER_SLICE === 0) yield;
    }
  }
  const combined = new ChangesetAccumulator();
  for (const [index, document] of documents.entries()) {
    if (typeof document !== 'object' || document === null || Array.isArray(document)) {
      return { ok: false, reason: `document ${index + 1} is not a JSON object` };
    }
    const parsed = MetadataChangeset.safeParse(document);
    if (!parsed.success) return { ok: false, reason: firstIssue(parsed.error) };
    combined.add(parsed.data);
    if ((index + 1) % LINES_PER_SLICE === 0) yield;
  }
  return { ok: true, changeset: combined.result() };
}

/** The first issue, naming its field: a reason of one line (the parser's input is never quoted). */
function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue === undefined ? 'invalid' : formatZodIssue(issue);
}
