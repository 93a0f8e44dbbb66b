import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { InfrastructureError, UsageError } from '../../domain/errors.js';
import { randomId, stableId } from '../../domain/ids.js';
import { newTopicRecord, writtenFileRecord } from '../../domain/stored-records.js';
import { type MetadataChangeset, applyChangeset } from '../../domain/metadata-changeset.js';
import type { FileRecord, TopicRecord } from '../../domain/records.js';
import type {
  DataStore,
  DatasetFields,
  DatasetRecord,
  FileUpdate,
  NewDataset,
  ChangeAnnouncement,
  NewTopic,
  OutboxEvent,
  Page,
  PutFile,
  PutFilesOptions,
  StoreQuery,
  StoredFile,
} from '../../ports/data-store.js';
import { matchesQuery, pageRows, prepareQuery } from '../../domain/store-query.js';
import type { QueryRow } from '../../domain/query-fields.js';
import { safeRelativePath } from '../../domain/relative-path.js';
import { writeJsonAtomic } from './atomic-file.js';
import { BlobStore } from './blob-store.js';

/** What is kept per file beside its wire record. */
interface FileEntry {
  record: FileRecord;
  sha256: string;
  /** The write (invocation attempt, import) that produced the current version. */
  writtenBy: { invocationId: string; attempt: number };
}

const ID = /^[A-Za-z0-9_-]{1,128}$/;

function checkId(id: string, kind: string): string {
  if (!ID.test(id)) throw new UsageError(`"${id}" is not a valid ${kind} id`, 'E_INVALID_INPUT');
  return id;
}

/**
 * The embedded data store: a directory tree on this host.
 *
 *   <root>/blobs/<aa>/<sha256>                  file contents, content-addressed, read-only
 *   <root>/datasets/<dataset id>/dataset.json   the dataset record
 *   <root>/datasets/<dataset id>/files/<file id>.json
 *   <root>/datasets/<dataset id>/topics/<topic id>.json
 *   <root>/index/{files,topics}/<id>            the dataset a file or topic belongs to
 *   <root>/locks/<dataset id>                   the dataset's lock
 *   <root>/tmp/                                 files being written
 *
 * Every record is written whole or not at all (temporary file, flush, rename), and every change to a
 * dataset happens under its lock, so several worker processes on one host can share a store.
 *
 * It recognises unchanged files by their content only: a `PutFile.sourceStat` is ignored (every file of an
 * import is read again). Kept as the source of a migration to the SQL store.
 */
export class LocalDataStore implements DataStore {
  private readonly blobs: BlobStore;
  private readonly user = os.userInfo().username;

  constructor(readonly root: string) {
    this.blobs = new BlobStore(path.join(root, 'blobs'), LocalDataStore.temporaryDir(root));
  }

  /** Where blobs are copied before they are published: `gc` sweeps what a crash left there. */
  static temporaryDir(root: string): string {
    return path.join(root, 'tmp');
  }

  /** Nothing to close: the folder store holds nothing open between calls. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  async createDataset(dataset: NewDataset): Promise<DatasetRecord> {
    const datasetId = checkId(dataset.datasetId ?? randomId('ds'), 'dataset');
    const dir = this.datasetDir(datasetId);
    await mkdir(path.dirname(dir), { recursive: true });
    // A directory already there is either another creator's (racing, or done) or one a crash left
    // between mkdir and dataset.json: which one is settled under the dataset's lock.
    await mkdir(dir).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    // Of several creators exactly one writes the record; a directory without one is finished by the next
    // creator instead of blocking the id for good.
    return this.withLock(datasetId, async () => {
      if ((await this.getDataset(datasetId)) !== undefined) {
        throw new UsageError(`dataset ${datasetId} already exists`, 'E_USAGE');
      }
      const now = new Date().toISOString();
      const record: DatasetRecord = {
        dataset_id: datasetId,
        org_id: dataset.orgId,
        name: dataset.name ?? null,
        description: dataset.description ?? null,
        tags: dataset.tags ?? [],
        metadata: dataset.metadata ?? {},
        created: now,
        created_by: this.user,
        modified: now,
        modified_by: this.user,
      };
      await writeJsonAtomic(path.join(dir, 'dataset.json'), record);
      return record;
    });
  }

  async getDataset(datasetId: string): Promise<DatasetRecord | undefined> {
    if (!ID.test(datasetId)) return undefined;
    return readJson<DatasetRecord>(path.join(this.datasetDir(datasetId), 'dataset.json'));
  }

  async listDatasets(): Promise<DatasetRecord[]> {
    const ids = await readdir(path.join(this.root, 'datasets')).catch(() => [] as string[]);
    const records = await Promise.all(ids.sort().map((id) => this.getDataset(id)));
    return records.filter((record): record is DatasetRecord => record !== undefined);
  }

  async updateDataset(
    datasetId: string,
    changeset: MetadataChangeset,
    fields: DatasetFields = {},
    announce?: ChangeAnnouncement,
  ): Promise<DatasetRecord> {
    refuseAnnouncement(announce);
    return this.withLock(datasetId, async () => {
      const record = await this.requireDataset(datasetId);
      const applied = applyChangeset(record, changeset);
      const updated = { ...record, ...applied, modified: new Date().toISOString(), modified_by: this.user };
      if (fields.name !== undefined) updated.name = fields.name;
      if (fields.description !== undefined) updated.description = fields.description;
      await writeJsonAtomic(path.join(this.datasetDir(datasetId), 'dataset.json'), updated);
      return updated;
    });
  }

  async putFiles(
    datasetId: string,
    files: readonly PutFile[],
    options: PutFilesOptions,
  ): Promise<FileRecord[]> {
    refuseAnnouncement(options.announce);
    await this.requireDataset(datasetId);
    const { transfers } = options;
    if (transfers?.planned) transfers.planned('upload', await totalSizeBytes(files));
    const onBytes = transfers
      ? (bytes: number) => {
          transfers.moved('upload', bytes);
        }
      : undefined;
    // Every path is checked before any byte is copied.
    const checked = files.map((file) => ({
      relativePath: safeRelativePath(file.relativePath, `file "${file.relativePath}"`),
      sourcePath: file.sourcePath,
    }));
    // Contents first, outside the lock: the slow part, and harmless if the write never commits. The blob
    // store copies a few at a time and returns once all of them are durable, before any record is written.
    const stored = await this.blobs.putMany(checked, { signal: options.signal, onBytes });
    const blobs = checked.map(({ relativePath }, index) => {
      const blob = stored[index];
      if (blob === undefined) throw new Error(`the blob store returned no blob for ${relativePath}`);
      return { relativePath, blob };
    });
    // Then the records, under the dataset's lock.
    return this.withLock(datasetId, async () => {
      const dataset = await this.requireDataset(datasetId);
      const now = new Date().toISOString();
      const records: FileRecord[] = [];
      for (const { relativePath, blob } of blobs) {
        const fileId = stableId('fl', datasetId, relativePath);
        const existing = await readJson<FileEntry>(this.fileEntryPath(datasetId, fileId));
        const isSameWrite = existing?.writtenBy.invocationId === options.writeKey.invocationId;
        if (existing && existing.sha256 === blob.sha256 && (isSameWrite || options.skipUnchanged)) {
          records.push(existing.record);
          continue;
        }
        // A retried attempt replaces what an earlier attempt of the same invocation wrote, in the same version.
        const version =
          existing === undefined ? 1 : isSameWrite ? existing.record.version : existing.record.version + 1;
        const record = writtenFileRecord({
          datasetId,
          orgId: dataset.org_id,
          relativePath,
          existing: existing?.record,
          version,
          sizeBytes: blob.sizeBytes,
          contentPath: blob.path,
          origination: options.origination,
          writeKey: options.writeKey,
          by: this.user,
          now,
        });
        await writeJsonAtomic(this.fileEntryPath(datasetId, fileId), {
          record,
          sha256: blob.sha256,
          writtenBy: options.writeKey,
        } satisfies FileEntry);
        await this.writeIndex('files', fileId, datasetId);
        records.push(record);
      }
      return records;
    });
  }

  async listFiles(datasetId: string): Promise<StoredFile[]> {
    await this.requireDataset(datasetId);
    const entries = await readJsonDir<FileEntry>(path.join(this.datasetDir(datasetId), 'files'));
    return entries
      .map(({ record, sha256 }) => ({ record, sha256 }))
      .sort((a, b) => (a.record.relative_path < b.record.relative_path ? -1 : 1));
  }

  async getFile(fileId: string): Promise<StoredFile | undefined> {
    const datasetId = await this.readIndex('files', fileId);
    if (datasetId === undefined) return undefined;
    const entry = await readJson<FileEntry>(this.fileEntryPath(datasetId, fileId));
    return entry && { record: entry.record, sha256: entry.sha256 };
  }

  async updateFile(fileId: string, update: FileUpdate, announce?: ChangeAnnouncement): Promise<FileRecord> {
    refuseAnnouncement(announce);
    const datasetId = await this.readIndex('files', fileId);
    if (datasetId === undefined) throw new UsageError(`no file with id ${fileId}`, 'E_INVALID_INPUT');
    return this.withLock(datasetId, async () => {
      const entry = await readJson<FileEntry>(this.fileEntryPath(datasetId, fileId));
      if (entry === undefined) throw new UsageError(`no file with id ${fileId}`, 'E_INVALID_INPUT');
      const record = { ...entry.record, modified: new Date().toISOString(), modified_by: this.user };
      if (update.description !== undefined) record.description = update.description;
      if (update.ingestionStatus !== undefined) record.ingestion_status = update.ingestionStatus;
      if (update.metadataChangeset) Object.assign(record, applyChangeset(record, update.metadataChangeset));
      await writeJsonAtomic(this.fileEntryPath(datasetId, fileId), { ...entry, record });
      return record;
    });
  }

  /**
   * Under the dataset's lock: the file's topics, then its record (one unlink each), then its
   * index entry. A crash in between leaves the file with fewer topics; the file is gone once its record is.
   */
  async deleteFile(fileId: string): Promise<boolean> {
    const datasetId = await this.readIndex('files', fileId);
    if (datasetId === undefined || (await this.getDataset(datasetId)) === undefined) return false;
    return this.withLock(datasetId, async () => {
      const entryPath = this.fileEntryPath(datasetId, fileId);
      if ((await readJson<FileEntry>(entryPath)) === undefined) return false;
      const topicsDir = path.join(this.datasetDir(datasetId), 'topics');
      for (const topic of await readJsonDir<TopicRecord>(topicsDir)) {
        if (topic.association.association_id !== fileId) continue;
        await rm(path.join(topicsDir, `${topic.topic_id}.json`), { force: true });
        await rm(path.join(this.root, 'index', 'topics', topic.topic_id), { force: true });
      }
      await rm(entryPath, { force: true });
      await rm(path.join(this.root, 'index', 'files', fileId), { force: true });
      return true;
    });
  }

  /**
   * Under the dataset's lock, its directory is renamed out of `datasets/` in one step (the dataset, its
   * files and topics disappear together), then removed; index entries left pointing at it find nothing.
   */
  async deleteDataset(datasetId: string): Promise<boolean> {
    if ((await this.getDataset(datasetId)) === undefined) return false;
    return this.withLock(datasetId, async () => {
      if ((await this.getDataset(datasetId)) === undefined) return false;
      const doomed = path.join(
        LocalDataStore.temporaryDir(this.root),
        `deleted-${datasetId}-${randomId('x')}`,
      );
      await mkdir(path.dirname(doomed), { recursive: true });
      await rename(this.datasetDir(datasetId), doomed);
      await rm(doomed, { recursive: true, force: true });
      return true;
    });
  }

  /** Nothing is ever held here: the folder store announces nothing (see `refuseAnnouncement`). */
  releaseAnnouncement(): Promise<void> {
    return Promise.resolve();
  }

  /** The folder store keeps no outbox (it announces nothing, see `refuseAnnouncement`): never an event. */
  claimOutboxEvents(): Promise<{ events: OutboxEvent[]; setAside: number[] }> {
    return Promise.resolve({ events: [], setAside: [] });
  }

  settleOutboxEvents(seqs: readonly number[]): Promise<void> {
    if (seqs.length === 0) return Promise.resolve();
    return Promise.reject(new UsageError('the folder store has no outbox events to settle', 'E_USAGE'));
  }

  releaseOutboxEvents(seqs: readonly number[]): Promise<void> {
    return this.settleOutboxEvents(seqs);
  }

  contentPath(file: StoredFile): Promise<string> {
    return Promise.resolve(this.blobs.pathOf(file.sha256));
  }

  async addTopic(fileId: string, topic: NewTopic): Promise<TopicRecord> {
    const file = await this.getFile(fileId);
    if (file === undefined) throw new UsageError(`no file with id ${fileId}`, 'E_INVALID_INPUT');
    const datasetId = file.record.association_id;
    const record = newTopicRecord(file.record, topic, this.user, new Date().toISOString());
    const topicId = record.topic_id;
    await this.withLock(datasetId, async () => {
      await writeJsonAtomic(path.join(this.datasetDir(datasetId), 'topics', `${topicId}.json`), record);
      await this.writeIndex('topics', topicId, datasetId);
    });
    return record;
  }

  async listTopics(datasetId: string): Promise<TopicRecord[]> {
    await this.requireDataset(datasetId);
    const records = await readJsonDir<TopicRecord>(path.join(this.datasetDir(datasetId), 'topics'));
    return records.sort((a, b) => (a.topic_name < b.topic_name ? -1 : 1));
  }

  async getTopic(topicId: string): Promise<TopicRecord | undefined> {
    const datasetId = await this.readIndex('topics', topicId);
    if (datasetId === undefined) return undefined;
    return readJson<TopicRecord>(path.join(this.datasetDir(datasetId), 'topics', `${topicId}.json`));
  }

  /** Scans every dataset (the reference for the SQL store, which pushes the query down). */
  async queryDatasets(query: StoreQuery): Promise<Page<DatasetRecord>> {
    const prepared = prepareQuery('datasets', query);
    const rows = (await this.datasetsIn(prepared)).map((dataset) => ({ dataset }));
    const page = pageRows(
      prepared,
      rows.filter((row) => matchesQuery(prepared, row)),
      (row) => row,
    );
    return { ...page, items: page.items.map((row) => row.dataset) };
  }

  async queryFiles(query: StoreQuery): Promise<Page<StoredFile>> {
    const prepared = prepareQuery('files', query);
    const matching: { stored: StoredFile; row: QueryRow }[] = [];
    for (const dataset of await this.datasetsIn(prepared)) {
      for (const stored of await this.listFiles(dataset.dataset_id)) {
        const row: QueryRow = { dataset, file: stored.record };
        if (matchesQuery(prepared, row)) matching.push({ stored, row });
      }
    }
    const page = pageRows(prepared, matching, (item) => item.row);
    return { ...page, items: page.items.map((item) => item.stored) };
  }

  async queryTopics(query: StoreQuery): Promise<Page<TopicRecord>> {
    const prepared = prepareQuery('topics', query);
    const matching: (QueryRow & { topic: TopicRecord })[] = [];
    for (const dataset of await this.datasetsIn(prepared)) {
      const files = new Map(
        (await this.listFiles(dataset.dataset_id)).map((stored) => [stored.record.file_id, stored.record]),
      );
      for (const topic of await this.listTopics(dataset.dataset_id)) {
        const row = {
          dataset,
          topic,
          topicDatasetId: dataset.dataset_id,
          file: files.get(topic.association.association_id),
        };
        if (matchesQuery(prepared, row)) matching.push(row);
      }
    }
    const page = pageRows(prepared, matching, (row) => row);
    return { ...page, items: page.items.map((row) => row.topic) };
  }

  /** The datasets a query's scope (org, dataset) lets it read. */
  private async datasetsIn(query: { orgId?: string; datasetId?: string }): Promise<DatasetRecord[]> {
    const datasets =
      query.datasetId === undefined
        ? await this.listDatasets()
        : [await this.getDataset(query.datasetId)].filter((d): d is DatasetRecord => d !== undefined);
    return datasets.filter((dataset) => query.orgId === undefined || dataset.org_id === query.orgId);
  }

  private datasetDir(datasetId: string): string {
    return path.join(this.root, 'datasets', checkId(datasetId, 'dataset'));
  }

  private fileEntryPath(datasetId: string, fileId: string): string {
    return path.join(this.datasetDir(datasetId), 'files', `${checkId(fileId, 'file')}.json`);
  }

  private async requireDataset(datasetId: string): Promise<DatasetRecord> {
    const record = await this.getDataset(datasetId);
    if (record === undefined) throw new UsageError(`unknown dataset "${datasetId}"`, 'E_INVALID_INPUT');
    return record;
  }

  private async writeIndex(kind: 'files' | 'topics', id: string, datasetId: string): Promise<void> {
    const target = path.join(this.root, 'index', kind, checkId(id, kind));
    if ((await readFile(target, 'utf8').catch(() => undefined)) !== datasetId) {
      await writeJsonAtomic(target, datasetId);
    }
  }

  private async readIndex(kind: 'files' | 'topics', id: string): Promise<string | undefined> {
    if (!ID.test(id)) return undefined;
    return readJson<string>(path.join(this.root, 'index', kind, id));
  }

  /** Runs `work` holding the dataset's lock, which other processes on this host respect too. */
  private async withLock<T>(datasetId: string, work: () => Promise<T>): Promise<T> {
    const lockTarget = path.join(this.root, 'locks', checkId(datasetId, 'dataset'));
    await mkdir(path.dirname(lockTarget), { recursive: true });
    await (await open(lockTarget, 'a')).close();
    let compromised: Error | undefined;
    const release = await lockfile.lock(lockTarget, {
      realpath: false,
      // By default a lock found taken over throws inside a timer, crashing the process; here it fails the
      // operation that held it instead.
      onCompromised: (error) => {
        compromised = error;
      },
      // A lock whose holder died is taken over after 10 s; a live holder refreshes it.
      stale: 10_000,
      retries: { retries: 200, minTimeout: 5, maxTimeout: 100, factor: 1.5 },
    });
    try {
      const result = await work();
      if (compromised !== undefined) {
        throw new InfrastructureError(
          `the lock of dataset ${datasetId} was lost while writing: ${compromised.message}`,
          'E_IO',
        );
      }
      return result;
    } finally {
      await release().catch(() => undefined);
    }
  }
}

/**
 * What a write will store in all: for a progress bar's total (a source that fails stat fails its copy). The
 * sizes the caller gives are taken as they are: no stat of each file again.
 */
async function totalSizeBytes(files: readonly PutFile[]): Promise<number> {
  let total = 0;
  for (const file of files) {
    total += file.sizeBytes ?? (await stat(file.sourcePath).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Every record in a directory of `<id>.json` files (a record removed meanwhile is skipped). */
async function readJsonDir<T>(dir: string): Promise<T[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.json'));
  const records = await Promise.all(names.map((name) => readJson<T>(path.join(dir, name))));
  return records.filter((record): record is Awaited<T> => record !== undefined);
}

/**
 * The folder store cannot announce a change in the change's own write (it has no transactions across
 * files, and no outbox): it is kept only as the source of a migration to the SQL store, which can.
 */
function refuseAnnouncement(announce: ChangeAnnouncement | undefined): void {
  if (announce !== undefined) {
    throw new UsageError(
      'the folder store cannot announce changes for trigger evaluation: use the SQL store',
      'E_USAGE',
    );
  }
}
