import { createReadStream, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { glob } from 'tinyglobby';
import { ApiClient } from '../adapters/http/api-client.js';
import { UsageError } from '../domain/errors.js';
import { gitignoreMatcher } from '../domain/gitignore.js';
import { checkManifest, uploadContentPath } from '../domain/upload-transaction.js';
import { apiTokenFrom } from './remote-records.js';

/** Files per upload transaction: the Roboto SDK's batch size (spec §11.3). */
export const UPLOAD_BATCH_SIZE = 500;

/** A local file and where it goes in the dataset. */
export interface UploadSource {
  relativePath: string;
  sourcePath: string;
  sizeBytes: number;
}

/** One transaction's worth of an upload, once completed. */
export interface UploadedBatch {
  transactionId: string;
  files: UploadSource[];
}

/**
 * What an upload of `source` sends: the file itself (under its name), or every regular file below the
 * folder (links not followed) under its path from the folder, minus those an `exclude` pattern
 * (gitignore-style) matches; sorted by path.
 */
export async function uploadSources(source: string, exclude: readonly string[]): Promise<UploadSource[]> {
  const stats = await stat(source).catch(() => undefined);
  if (stats === undefined) throw new UsageError(`"${source}" does not exist`, 'E_INVALID_INPUT');
  const excluded = exclude.length === 0 ? () => false : gitignoreMatcher(exclude);
  if (stats.isFile()) {
    const relativePath = path.basename(source);
    return excluded(relativePath) ? [] : [{ relativePath, sourcePath: source, sizeBytes: stats.size }];
  }
  if (!stats.isDirectory()) {
    throw new UsageError(`"${source}" is neither a file nor a folder`, 'E_INVALID_INPUT');
  }
  const root = await realpath(source);
  const found = await glob('**/*', { cwd: root, dot: true, onlyFiles: true, followSymbolicLinks: false });
  const sources: UploadSource[] = [];
  for (const relativePath of found.sort()) {
    if (excluded(relativePath)) continue;
    const sourcePath = path.join(root, relativePath);
    const fileStats = statSync(sourcePath);
    if (fileStats.isFile()) sources.push({ relativePath, sourcePath, sizeBytes: fileStats.size });
  }
  return sources;
}

/**
 * Uploads files into a dataset through an action-worker API, as the Roboto SDK does (spec §11.3) but with
 * this server's own byte path instead of S3: in batches of UPLOAD_BATCH_SIZE, each one transaction —
 * begin, PUT each file's bytes, report progress, complete. Bytes go only to the endpoint's own address
 * (the token is never sent elsewhere, whatever the server's upload mappings name). `onBatch` is told of
 * each completed transaction.
 */
export async function uploadFiles(
  client: ApiClient,
  datasetId: string,
  sources: readonly UploadSource[],
  options: {
    orgId?: string;
    origination: string;
    signal: AbortSignal;
    onBatch?: (batch: UploadedBatch) => void;
  },
): Promise<UploadedBatch[]> {
  if (sources.length === 0) return [];
  // Checked here first, so a bad name is one clear error before anything is sent.
  checkManifest(Object.fromEntries(sources.map((source) => [source.relativePath, source.sizeBytes])));
  const batches: UploadedBatch[] = [];
  for (let at = 0; at < sources.length; at += UPLOAD_BATCH_SIZE) {
    const files = sources.slice(at, at + UPLOAD_BATCH_SIZE);
    const begun = await client.call<{ transaction_id: string; upload_mappings: Record<string, string> }>({
      method: 'POST',
      path: '/v1/files/upload',
      ...(options.orgId === undefined ? {} : { callerOrgId: options.orgId }),
      body: {
        association: { association_id: datasetId, association_type: 'dataset' },
        origination: options.origination,
        resource_manifest: Object.fromEntries(files.map((file) => [file.relativePath, file.sizeBytes])),
        device_id: null,
      },
    });
    const transactionId = begun.transaction_id;
    for (const file of files) {
      options.signal.throwIfAborted();
      await client.putBytes({
        path: uploadContentPath(transactionId, file.relativePath),
        body: Readable.toWeb(createReadStream(file.sourcePath)) as ReadableStream<Uint8Array>,
        signal: options.signal,
      });
    }
    await client.call({
      method: 'PUT',
      path: `/v1/files/upload/${encodeURIComponent(transactionId)}/progress`,
      body: {
        manifest_items: files.map((file) => begun.upload_mappings[file.relativePath] ?? file.relativePath),
      },
    });
    await client.call({
      method: 'PUT',
      path: `/v1/files/upload/${encodeURIComponent(transactionId)}/complete`,
    });
    const batch = { transactionId, files };
    batches.push(batch);
    options.onBatch?.(batch);
  }
  return batches;
}

/** The API client for `--endpoint url`, with the token from the environment only. */
export function uploadClient(url: string, env: NodeJS.ProcessEnv): ApiClient {
  return new ApiClient({ url, token: apiTokenFrom(env) });
}
