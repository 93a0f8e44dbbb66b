import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod, ZodTypeProvider } from 'fastify-type-provider-zod';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { randomId } from '../../domain/ids.js';
import {
  MAX_MANIFEST_ENTRIES,
  UPLOAD_TRANSACTION_TTL_MS,
  type UploadTransaction,
  UploadTransactionId,
  checkManifest,
  manifestIndex,
  uploadContentPath,
} from '../../domain/upload-transaction.js';
import type { DataStore, PutFile } from '../../ports/data-store.js';
import type { ChangeNotifier } from '../../ports/trigger-events.js';
import type { UploadTransactionStore } from '../../ports/upload-transaction-store.js';
import { HttpError } from '../errors.js';
import { ErrorEnvelope, envelope } from '../schemas.js';
import { StagedIdle, StagedTooLarge, StagedTooShort, UploadStaging } from '../upload-staging.js';
import { ERROR_RESPONSES, callerOf, scopeOf } from './route-kit.js';

export interface UploadRouteOptions {
  transactions: UploadTransactionStore;
  /** Where bytes wait for their transaction's completion: `<storeDir>/uploads`, shared by the replicas. */
  stagingDir: string;
  /** How long a transaction is kept. @defaultValue UPLOAD_TRANSACTION_TTL_MS (24 h) */
  ttlMs?: number;
  /** A content PUT whose body sends nothing for this long is cut off (408). @defaultValue 30 s */
  idleTimeoutMs?: number;
  /** The most bytes one transaction may declare (its files' sizes summed). @defaultValue 100 GiB */
  maxTransactionBytes?: number;
  /** The most transactions of one org pending (begun, neither completed nor expired) at once. @defaultValue 64 */
  maxPendingPerOrg?: number;
  /** How often the staging directories left behind are looked for (and at a begin, at most this often). @defaultValue 1 h */
  sweepIntervalMs?: number;
  /** A complete keeps its transaction at least this long from its start, for its files to be stored. @defaultValue 6 h */
  completeGraceMs?: number;
  /** The clock of transactions' `created`/`expires`. @defaultValue Date.now */
  now?: () => number;
}

/** How long a content PUT's body may send nothing before it is cut off. */
export const UPLOAD_IDLE_TIMEOUT_MS = 30_000;

/** The most bytes one transaction may declare, unless configured (api.uploadMaxTransactionBytes). */
export const UPLOAD_MAX_TRANSACTION_BYTES = 100 * 1024 ** 3;
/** The most pending transactions per org, unless configured (api.uploadMaxPendingPerOrg). */
export const UPLOAD_MAX_PENDING_PER_ORG = 64;
/** How often staging directories left behind are looked for; only those this old are removed. */
const SWEEP_EVERY_MS = 60 * 60_000;

const TransactionParams = z.object({ transaction_id: z.string().min(1).max(200) });

const BeginUploadRequest = z.object({
  association: z.object({
    association_id: z.string().min(1).max(200),
    association_type: z.literal('dataset'),
  }),
  origination: z.string().max(1000).optional(),
  /** `{"<dataset path>": <size in bytes>}`. */
  resource_manifest: z.record(z.string(), z.number()),
  device_id: z.string().nullable().optional(),
});

const BeginUploadResponse = z.object({
  transaction_id: z.string(),
  /** For each path, where its bytes go: this server's `PUT …/content/{quote(path, safe="")}`. */
  upload_mappings: z.record(z.string(), z.string()),
});

const ProgressRequest = z.object({
  manifest_items: z.array(z.string().max(16_384)).max(MAX_MANIFEST_ENTRIES),
});

const transactionNotFound = (transactionId: string): HttpError =>
  new HttpError(404, 'RobotoNotFoundException', `upload transaction ${transactionId} not found`);

const notOctetStream = (): HttpError =>
  new HttpError(
    415,
    'RobotoInvalidRequestException',
    "an upload mapping takes a file's raw bytes only: Content-Type: application/octet-stream",
  );

const invalid = (message: string): HttpError => new HttpError(400, 'RobotoInvalidRequestException', message);

/**
 * API uploads (spec §11.2 "Begin upload" … "Complete upload", the SDK's flow in §11.3). The hosted service
 * has the client PUT bytes to S3; this server has no S3, so it serves the transaction and a byte path of
 * its own: each path's bytes go to `PUT /v1/files/upload/{txn}/content/{quote(path)}` (the path's
 * upload mapping), then progress, then complete, which stores every file of the manifest in one write
 * (one version per path, however often it is retried) and announces it as one `file_upload` event.
 * `GET …/credentials` answers 501. Another org's transaction, or another principal's of the same org,
 * answers exactly as a missing one (404).
 */
export const uploadRoutes: FastifyPluginAsyncZod<
  UploadRouteOptions & {
    store: DataStore;
    /** Told after a completion was announced; without it the completion announces nothing. */
    changes?: ChangeNotifier;
    /** The API's address as clients reach it, for the upload mappings; by default the request's own. */
    publicUrl?: string | null;
  }
> = async (app, options) => {
  const { store, transactions, changes } = options;
  const staging = new UploadStaging(options.stagingDir);
  const ttlMs = options.ttlMs ?? UPLOAD_TRANSACTION_TTL_MS;
  const idleTimeoutMs = options.idleTimeoutMs ?? UPLOAD_IDLE_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  const maxTransactionBytes = options.maxTransactionBytes ?? UPLOAD_MAX_TRANSACTION_BYTES;
  const maxPendingPerOrg = options.maxPendingPerOrg ?? UPLOAD_MAX_PENDING_PER_ORG;
  const sweepIntervalMs = options.sweepIntervalMs ?? SWEEP_EVERY_MS;
  const completeGraceMs = options.completeGraceMs ?? 6 * 60 * 60_000;
  let lastSweep = 0;

  /**
   * The caller's own transaction, or 404 (unknown, expired, another org's, or another principal's of the
   * same org): the principal that began it carries it through, that is the invocation whose token began it,
   * else the org token that began it. Another token of the org, or an action's token on a transaction its
   * org began, is answered as if it did not exist.
   */
  const ownTransaction = async (request: FastifyRequest, transactionId: string) => {
    if (!UploadTransactionId.safeParse(transactionId).success) throw transactionNotFound(transactionId);
    const found = await transactions.get(transactionId);
    const caller = callerOf(request);
    if (found === undefined || found.org_id !== caller.orgId) throw transactionNotFound(transactionId);
    const sameBeginner =
      found.source_invocation_id === null
        ? caller.invocationId === undefined && caller.tokenId === found.created_by
        : caller.invocationId === found.source_invocation_id;
    if (!sameBeginner) throw transactionNotFound(transactionId);
    return found;
  };

  /** The paths among `indexes` whose bytes are not staged whole, each with what arrived. */
  const notArrived = async (transaction: UploadTransaction, indexes: readonly number[]) => {
    const missing: string[] = [];
    for (const index of indexes) {
      const entry = transaction.manifest[index];
      if (entry === undefined) continue;
      const size = await staging.sizeOf(transaction.transaction_id, index);
      if (size !== entry.size_bytes) {
        missing.push(
          `${JSON.stringify(entry.path)} (${size === undefined ? 'nothing' : `${size} of ${entry.size_bytes} bytes`} arrived)`,
        );
      }
    }
    return missing;
  };

  let sweeping: Promise<void> | undefined;
  const sweepLeftovers = async (): Promise<void> => {
    if (sweeping !== undefined) return sweeping;
    lastSweep = now();
    sweeping = (async () => {
      const removed = await staging.sweep(
        SWEEP_EVERY_MS,
        // Gone, expired or completed: a completing transaction's bytes may still be being stored.
        async (transactionId) =>
          ((await transactions.get(transactionId))?.status ?? 'completed') === 'completed',
      );
      if (removed.length > 0) app.log.info({ removed: removed.length }, 'upload.staging_swept');
    })().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };
  // Left-behind staging is looked for on a timer too, not only when someone begins an upload.
  const sweepTimer = setInterval(() => {
    sweepLeftovers().catch((error: unknown) => {
      app.log.warn({ err: error }, 'upload.staging_sweep_failed');
    });
  }, sweepIntervalMs);
  sweepTimer.unref();
  app.addHook('onClose', async () => {
    clearInterval(sweepTimer);
    await sweeping?.catch(() => undefined);
  });

  app.post(
    '/v1/files/upload',
    {
      schema: {
        summary: 'Begin an upload transaction into a dataset of the caller org (spec §11.2)',
        body: BeginUploadRequest,
        response: { 200: envelope(BeginUploadResponse), 413: ErrorEnvelope, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { body } = request;
      const orgId = scopeOf(request).callerOrgId;
      if (body.device_id) {
        throw new HttpError(
          404,
          'RobotoNotFoundException',
          `device ${body.device_id} not found: devices are not kept yet`,
        );
      }
      const datasetId = body.association.association_id;
      const dataset = await store.getDataset(datasetId);
      if (dataset === undefined || dataset.org_id !== orgId) {
        throw new HttpError(404, 'RobotoDatasetNotFoundException', `dataset ${datasetId} not found`);
      }
      const manifest = checkManifest(body.resource_manifest);
      const declared = manifest.reduce((sum, entry) => sum + entry.size_bytes, 0);
      if (declared > maxTransactionBytes) {
        throw new HttpError(
          413,
          'RobotoInvalidRequestException',
          `resource_manifest declares ${declared} bytes; a transaction may declare at most ${maxTransactionBytes} (api.uploadMaxTransactionBytes)`,
        );
      }
      const caller = callerOf(request);
      const created = now();
      const transaction = await transactions.create(
        {
          transaction_id: randomId('ut', 20),
          org_id: orgId,
          dataset_id: datasetId,
          origination: body.origination ?? `API upload by ${caller.tokenId}`,
          manifest,
          created_by: caller.tokenId,
          created: new Date(created).toISOString(),
          expires: new Date(created + ttlMs).toISOString(),
          source_invocation_id: caller.invocationId ?? null,
        },
        { maxPendingPerOrg },
      );
      if (transaction === undefined) {
        throw new HttpError(
          400,
          'RobotoInvalidRequestException',
          `org ${orgId} has ${maxPendingPerOrg} upload transactions pending already (api.uploadMaxPendingPerOrg): ` +
            'complete them, or wait for them to expire, before beginning another',
        );
      }
      request.log.info(
        {
          transactionId: transaction.transaction_id,
          datasetId,
          files: manifest.length,
          sourceInvocationId: transaction.source_invocation_id,
        },
        'upload.begun',
      );
      if (now() - lastSweep >= sweepIntervalMs)
        await sweepLeftovers().catch((error: unknown) => {
          request.log.warn({ err: error }, 'upload.staging_sweep_failed');
        });
      const base = (options.publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
      const mappings = Object.fromEntries(
        manifest.map((entry) => [
          entry.path,
          `${base}${uploadContentPath(transaction.transaction_id, entry.path)}`,
        ]),
      );
      return { data: { transaction_id: transaction.transaction_id, upload_mappings: mappings } };
    },
  );

  // Raw bytes, for the content route only: the parser lives in a scope of its own, so every other route
  // (this plugin's too) stays JSON-only. The body is handed over as the request stream, never buffered.
  await app.register((scope, _options, done) => {
    const content = scope.withTypeProvider<ZodTypeProvider>();
    // Only raw bytes: a JSON (or any other) body here is 415 before anything touches the disk.
    content.removeAllContentTypeParsers();
    content.addContentTypeParser('*', (_request, _payload, parsed) => {
      parsed(notOctetStream(), undefined);
    });
    content.addContentTypeParser('application/octet-stream', (_request, payload, parsed) => {
      parsed(null, payload);
    });
    content.put(
      '/v1/files/upload/:transaction_id/content/:path',
      {
        schema: {
          summary:
            "Send one file's bytes (application/octet-stream, exactly its declared size) to its upload mapping; " +
            'a retried PUT replaces them. action-worker only: the hosted service takes them in S3',
          params: TransactionParams.extend({ path: z.string().min(1).max(8192) }),
          response: {
            200: envelope(z.null()),
            408: ErrorEnvelope,
            409: ErrorEnvelope,
            413: ErrorEnvelope,
            415: ErrorEnvelope,
            ...ERROR_RESPONSES,
          },
        },
        // A refusal leaves the rest of the body unread: the connection is closed rather than drained.
        onSend: async (request, reply) => {
          if (reply.statusCode >= 400 && !request.raw.readableEnded) reply.header('connection', 'close');
        },
      },
      async (request) => {
        const { transaction_id: transactionId, path: datasetPath } = request.params;
        const transaction = await ownTransaction(request, transactionId);
        // Once a complete has started, the bytes it stores are those staged: later ones are refused.
        const notPending = (status: string): HttpError =>
          new HttpError(409, 'RobotoConflictException', `upload transaction ${transactionId} is ${status}`);
        if (transaction.status !== 'pending') throw notPending(transaction.status);
        const index = manifestIndex(transaction.manifest, datasetPath);
        const entry = transaction.manifest[index];
        if (entry === undefined) {
          throw invalid(
            `${JSON.stringify(datasetPath)} is not in upload transaction ${transactionId}'s manifest`,
          );
        }
        // Belt and braces: whatever a parser made of it, anything but the request stream is refused.
        const body: unknown = request.body;
        if (body !== undefined && !(body instanceof Readable)) throw notOctetStream();
        const announced = Number(request.headers['content-length'] ?? Number.NaN);
        if (announced > entry.size_bytes) {
          throw new HttpError(
            413,
            'RobotoInvalidRequestException',
            `${JSON.stringify(datasetPath)}: the body (${announced} bytes) is larger than the ${entry.size_bytes} bytes declared`,
          );
        }
        try {
          await staging.write(transactionId, index, body, entry.size_bytes, idleTimeoutMs);
        } catch (error) {
          if (error instanceof StagedTooLarge) {
            throw new HttpError(
              413,
              'RobotoInvalidRequestException',
              `${JSON.stringify(datasetPath)}: the body is larger than the ${entry.size_bytes} bytes declared`,
            );
          }
          if (error instanceof StagedIdle) {
            throw new HttpError(
              408,
              'RobotoInvalidRequestException',
              `${JSON.stringify(datasetPath)}: the body sent nothing for ${idleTimeoutMs} ms (after ${error.receivedBytes} of the ${entry.size_bytes} bytes declared)`,
            );
          }
          if (error instanceof StagedTooShort) {
            throw invalid(
              `${JSON.stringify(datasetPath)}: the body ended after ${error.receivedBytes} of the ${entry.size_bytes} bytes declared`,
            );
          }
          throw error;
        }
        // A complete that started while these bytes arrived may have stored them or the ones before: they
        // are not acknowledged.
        const after = await transactions.get(transactionId);
        if (after === undefined) throw transactionNotFound(transactionId);
        if (after.status !== 'pending') throw notPending(after.status);
        return { data: null };
      },
    );
    done();
  });

  app.get(
    '/v1/files/upload/:transaction_id/credentials',
    {
      schema: {
        summary: 'S3 upload credentials (spec §11.2): not served, answered 501 naming the byte path to use',
        params: TransactionParams,
        response: { 501: ErrorEnvelope, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { transaction_id: transactionId } = request.params;
      await ownTransaction(request, transactionId);
      throw new HttpError(
        501,
        'RobotoServiceException',
        "this server keeps no S3 storage and serves no upload credentials: PUT each file's bytes " +
          `(application/octet-stream) to its upload mapping, PUT /v1/files/upload/${transactionId}/content/` +
          '{quote(path, safe="")}, then report progress and complete',
      );
    },
  );

  app.put(
    '/v1/files/upload/:transaction_id/progress',
    {
      schema: {
        summary:
          'Report files whose bytes arrived (their upload mappings); answers the dataset paths reported so far',
        params: TransactionParams,
        body: ProgressRequest,
        response: { 200: envelope(z.array(z.string())), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { transaction_id: transactionId } = request.params;
      const transaction = await ownTransaction(request, transactionId);
      if (transaction.status === 'completed') return { data: transaction.reported };
      const marker = `/v1/files/upload/${transactionId}/content/`;
      const indexes: number[] = [];
      for (const item of request.body.manifest_items) {
        const at = item.indexOf(marker);
        let datasetPath: string | undefined;
        try {
          datasetPath = at < 0 ? undefined : decodeURIComponent(item.slice(at + marker.length));
        } catch {
          datasetPath = undefined;
        }
        const index = datasetPath === undefined ? -1 : manifestIndex(transaction.manifest, datasetPath);
        if (index < 0) {
          throw invalid(
            `manifest item ${JSON.stringify(item)} is not an upload mapping of transaction ${transactionId}`,
          );
        }
        indexes.push(index);
      }
      const missing = await notArrived(transaction, indexes);
      if (missing.length > 0) {
        throw invalid(
          `upload transaction ${transactionId}: not arrived whole: ${missing.slice(0, 10).join(', ')}`,
        );
      }
      const paths = indexes.map((index) => (transaction.manifest[index] as { path: string }).path);
      const after = await transactions.addReported(transactionId, paths);
      if (after === undefined) throw transactionNotFound(transactionId);
      return { data: after.reported };
    },
  );

  app.put(
    '/v1/files/upload/:transaction_id/complete',
    {
      schema: {
        summary:
          'Complete an upload: every file of the manifest must have arrived whole; stores them all as one ' +
          'write (a retried complete stores nothing twice) and announces one file_upload event',
        params: TransactionParams,
        response: { 200: envelope(z.null()), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { transaction_id: transactionId } = request.params;
      let transaction = await ownTransaction(request, transactionId);
      // A completing one is retried as a whole: its completion may have stopped half-way (a crash).
      if (transaction.status !== 'completed') {
        const missing = await notArrived(
          transaction,
          transaction.manifest.map((_entry, index) => index),
        );
        if (missing.length > 0) {
          // A completion racing this one may have stored the files and removed their staged bytes.
          const current = await ownTransaction(request, transactionId);
          if (current.status === 'completed') return { data: null };
          throw invalid(
            `upload transaction ${transactionId} cannot complete: ${missing.length} file(s) not arrived whole: ` +
              `${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}; PUT them to their upload mappings first`,
          );
        }
        const dataset = await store.getDataset(transaction.dataset_id);
        if (dataset === undefined || dataset.org_id !== transaction.org_id) {
          throw new HttpError(
            404,
            'RobotoDatasetNotFoundException',
            `dataset ${transaction.dataset_id} not found`,
          );
        }
        // From here its bytes take no more PUTs, and it is kept long enough for the files to be stored:
        // without that it could expire half-way, its files stored and announced but every retry 404.
        const marked = await transactions.markCompleting(
          transactionId,
          new Date(now() + completeGraceMs).toISOString(),
        );
        if (marked === undefined) throw transactionNotFound(transactionId);
        const files: PutFile[] = transaction.manifest.map((entry, index) => ({
          relativePath: entry.path,
          sourcePath: staging.fileOf(transactionId, index),
          sizeBytes: entry.size_bytes,
        }));
        const stored = store.putFiles(transaction.dataset_id, files, {
          // The transaction is the write: a retried completion (or a racing one) leaves one version per path.
          writeKey: { invocationId: transactionId, attempt: 1 },
          origination: transaction.origination,
          signal: new AbortController().signal,
          ...(changes === undefined
            ? {}
            : {
                announce: {
                  eventId: transactionId,
                  transactionId,
                  sourceInvocationId: transaction.source_invocation_id,
                },
              }),
        });
        let records: Awaited<typeof stored>;
        try {
          records = await stored;
        } catch (error) {
          // A completion racing this one may have stored the files and removed their staged bytes.
          if ((await transactions.get(transactionId))?.status === 'completed') return { data: null };
          throw error;
        }
        changes?.changed();
        const completed = await transactions.markCompleted(
          transactionId,
          records.map((record) => record.file_id),
          new Date(now()).toISOString(),
        );
        // Gone after all (a grace too short for the copy): its files are stored and announced all the same.
        if (completed === undefined) request.log.warn({ transactionId }, 'upload.completed_after_expiry');
        else transaction = completed;
        request.log.info(
          { transactionId, datasetId: transaction.dataset_id, files: records.length },
          'upload.completed',
        );
      }
      await staging.remove(transactionId);
      return { data: null };
    },
  );

  await Promise.resolve();
};
