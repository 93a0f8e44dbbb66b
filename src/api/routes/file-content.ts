import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DataStore } from '../../ports/data-store.js';
import { HttpError } from '../errors.js';
import { envelope } from '../schemas.js';
import type { UrlSigner } from '../signed-urls.js';
import { ownFile } from './files.js';
import { ERROR_RESPONSES } from './route-kit.js';

/** Header values a client may choose for the download: printable, no line breaks (no header injection). */
const HeaderValue = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^[\x20-\x7e]+$/, 'printable ASCII only');

export interface FileContentOptions {
  store: DataStore;
  signer: UrlSigner;
  /** The API's address as clients reach it; by default the request's own scheme and Host. */
  publicUrl?: string | null;
}

/** `attachment; filename*=UTF-8''…`: the file's name, whatever its characters, as RFC 6266 spells it. */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * Signed download URLs (spec F4) and the route that answers them. The URL is `serve`'s own
 * `/signed/files/{id}?…`, outside /v1, so it needs no bearer token: its signature is the authorization.
 */
export const fileContentRoutes: FastifyPluginAsyncZod<FileContentOptions> = async (
  app,
  { store, signer, publicUrl },
) => {
  app.get(
    '/v1/files/:file_id/signed-url',
    {
      schema: {
        summary: "A short-lived URL serving the file's bytes without a token (spec F4)",
        params: z.object({ file_id: z.string().min(1).max(200) }),
        querystring: z.object({
          override_content_disposition: HeaderValue.optional(),
          override_content_type: HeaderValue.optional(),
        }),
        response: { 200: envelope(z.object({ url: z.string() })), ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const stored = await ownFile(store, request, request.params.file_id);
      const params = signer.sign({
        fileId: stored.record.file_id,
        version: stored.record.version,
        contentDisposition: request.query.override_content_disposition,
        contentType: request.query.override_content_type,
      });
      const base = (publicUrl ?? `${request.protocol}://${request.host}`).replace(/\/+$/, '');
      const url = `${base}/signed/files/${encodeURIComponent(stored.record.file_id)}?${params.toString()}`;
      return { data: { url } };
    },
  );

  app.get(
    '/signed/files/:file_id',
    {
      schema: {
        summary: 'Download a file through a signed URL (no bearer token; spec F4)',
        security: [],
        params: z.object({ file_id: z.string().min(1).max(200) }),
        querystring: z.object({
          version: z.coerce.number().int().min(1),
          expires: z.coerce.number().int(),
          rcd: HeaderValue.optional(),
          rct: HeaderValue.optional(),
          signature: z.string().min(1).max(200),
        }),
      },
    },
    async (request, reply) => {
      const { file_id: fileId } = request.params;
      const { version, expires, rcd, rct, signature } = request.query;
      const verdict = signer.verify(
        { fileId, version, expires, contentDisposition: rcd, contentType: rct },
        signature,
      );
      if (verdict !== 'ok') {
        throw new HttpError(
          403,
          'RobotoUnauthorizedException',
          verdict === 'expired' ? 'this signed URL has expired' : 'this signed URL is not valid',
        );
      }
      const stored = await store.getFile(fileId);
      if (stored === undefined || stored.record.version !== version) {
        throw new HttpError(404, 'RobotoNotFoundException', `file ${fileId} version ${version} not found`);
      }
      const contentPath = await store.contentPath(stored);
      // Opened before answering, so a blob that is gone is a 404 rather than a cut-off 200.
      const size = (await stat(contentPath).catch(() => undefined))?.size;
      if (size === undefined) {
        throw new HttpError(404, 'RobotoNotFoundException', `file ${fileId} version ${version} not found`);
      }
      return (
        reply
          .header('content-length', size)
          .header('content-type', rct ?? 'application/octet-stream')
          .header('content-disposition', rcd ?? attachment(stored.record.name))
          .header('cache-control', 'private, no-store')
          // The bytes are a dataset's, served from the API's own origin: never sniffed into something else,
          // and, should a browser render them (a signed text/html override), in a sandbox without scripts.
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', 'sandbox')
          .send(createReadStream(contentPath))
      );
    },
  );

  await Promise.resolve();
};
