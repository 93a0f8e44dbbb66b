import { realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';
import { UsageError } from '../../domain/errors.js';
import { stableId } from '../../domain/ids.js';
import type { FileSelector, InvocationInput } from '../../domain/input-selectors.js';
import type { FileRecord } from '../../domain/records.js';
import type { InputResolver, ResolvedFile, ResolvedInput } from '../../ports/input-resolver.js';

/** Files under top-level dot directories are "hidden/system" files and never selected by paths (spec §6.2). */
const HIDDEN_EXCLUDE = '.*/**/*';

export interface LocalFolderDatasetOptions {
  folder: string;
  datasetId: string;
  orgId: string;
}

/**
 * A folder on this host seen as one dataset: every regular file is a file record whose relative_path
 * is its path below the folder. Resolves `dataset_id + paths` selectors (gitignore-style globs) and
 * `ids`; queries need the dataset store.
 */
export class LocalFolderDataset implements InputResolver {
  private records: ResolvedFile[] | undefined;

  constructor(private readonly options: LocalFolderDatasetOptions) {}

  get datasetId(): string {
    return this.options.datasetId;
  }

  /** A stable dataset id for a folder, so the same folder is the same dataset run after run. */
  static async datasetIdFor(folder: string): Promise<string> {
    return stableId('ds', await realpath(folder));
  }

  async listFiles(): Promise<ResolvedFile[]> {
    if (this.records !== undefined) return this.records;
    const root = await realpath(this.options.folder);
    const relativePaths = await glob('**/*', {
      cwd: root,
      dot: true,
      onlyFiles: true,
      followSymbolicLinks: false,
    });
    relativePaths.sort();
    const user = os.userInfo().username;
    const records: ResolvedFile[] = [];
    for (const relativePath of relativePaths) {
      const sourcePath = path.join(root, relativePath);
      const stats = await stat(sourcePath);
      if (!stats.isFile()) continue;
      const record: FileRecord = {
        association_id: this.options.datasetId,
        created: (stats.birthtimeMs > 0 ? stats.birthtime : stats.mtime).toISOString(),
        created_by: user,
        description: null,
        device_id: null,
        file_id: stableId('fl', this.options.datasetId, relativePath),
        fs_type: 'file',
        ingestion_status: 'not_ingested',
        metadata: {},
        modified: stats.mtime.toISOString(),
        modified_by: user,
        name: path.posix.basename(relativePath),
        org_id: this.options.orgId,
        origination: 'action-worker local folder',
        parent_id: null,
        relative_path: relativePath,
        size: stats.size,
        status: 'available',
        storage_type: 'imported',
        tags: [],
        upload_id: 'NO_ID',
        uri: pathToFileURL(sourcePath).href,
        version: 1,
      };
      records.push({ record, sourcePath });
    }
    this.records = records;
    return records;
  }

  async resolve(input: InvocationInput, signal: AbortSignal): Promise<ResolvedInput> {
    const seen = new Set<string>();
    const files: ResolvedFile[] = [];
    for (const selector of input.files ?? []) {
      signal.throwIfAborted();
      for (const file of await this.select(selector)) {
        if (seen.has(file.record.file_id)) continue;
        seen.add(file.record.file_id);
        files.push(file);
      }
    }
    if ((input.topics ?? []).length > 0) {
      throw new UsageError(
        'topic selectors need the dataset store; a local folder has no topics',
        'E_INVALID_INPUT',
      );
    }
    return { files, topics: [] };
  }

  private async select(selector: FileSelector): Promise<ResolvedFile[]> {
    const all = await this.listFiles();
    if (selector.query || selector.names?.length) {
      throw new UsageError(
        'query and names selectors need the dataset store; a local folder takes paths and ids',
        'E_INVALID_INPUT',
      );
    }
    const out: ResolvedFile[] = [];
    if (selector.paths?.length) {
      if (selector.dataset_id !== null && selector.dataset_id !== this.options.datasetId) {
        throw new UsageError(`unknown dataset "${selector.dataset_id}"`, 'E_INVALID_INPUT');
      }
      const isIncluded = gitignoreMatcher(selector.paths);
      const isHidden = picomatch(HIDDEN_EXCLUDE, { dot: true });
      out.push(
        ...all.filter(
          (file) => isIncluded(file.record.relative_path) && !isHidden(file.record.relative_path),
        ),
      );
    }
    for (const id of selector.ids ?? []) {
      const file = all.find((candidate) => candidate.record.file_id === id);
      if (file === undefined)
        throw new UsageError(`no file with id "${id}" in ${this.options.folder}`, 'E_INVALID_INPUT');
      out.push(file);
    }
    return out;
  }
}

/**
 * gitignore-style include patterns: a pattern without a slash matches a name at any depth, a leading
 * slash anchors it at the root, and a directory pattern matches everything below it.
 */
export function gitignoreMatcher(patterns: readonly string[]): (relativePath: string) => boolean {
  const matchers = patterns.map((pattern) => {
    const anchored = pattern.startsWith('/');
    let body = anchored ? pattern.slice(1) : pattern;
    if (body.endsWith('/')) body = `${body}**`;
    const hasSlash = body.replace(/\/\*\*$/, '').includes('/');
    const glob = anchored || hasSlash ? body : `**/${body}`;
    const exact = picomatch(glob, { dot: true });
    const below = picomatch(`${glob}/**`, { dot: true });
    return (candidate: string) => exact(candidate) || below(candidate);
  });
  return (relativePath) => matchers.some((matches) => matches(relativePath));
}
