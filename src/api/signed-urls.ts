import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed download URLs (spec F4): `serve` hands out a short-lived URL of its own that answers the file's
 * bytes without a bearer token. The signature is HMAC-SHA256, under a server secret, over everything the
 * URL decides: the file, its version, the expiry and the response-header overrides — change any of them
 * and the signature no longer matches.
 */

/** What a signed URL names, as its query string carries it. */
export interface SignedDownload {
  fileId: string;
  version: number;
  /** Unix seconds after which the URL is refused. */
  expires: number;
  contentDisposition?: string | undefined;
  contentType?: string | undefined;
}

export interface UrlSignerOptions {
  /** The HMAC key; by default 32 random bytes, good for this process only. */
  secret?: string | null;
  /** How long a URL is good for (by default 15 minutes). */
  ttlSeconds?: number;
  /** The clock, in milliseconds (tests move it instead of sleeping). */
  now?: () => number;
}

export class UrlSigner {
  private readonly key: Buffer;
  readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(options: UrlSignerOptions = {}) {
    this.key = options.secret ? Buffer.from(options.secret, 'utf8') : randomBytes(32);
    this.ttlSeconds = options.ttlSeconds ?? 15 * 60;
    this.now = options.now ?? Date.now;
  }

  /** The signed query parameters of a download of this file version, good from now for the TTL. */
  sign(download: Omit<SignedDownload, 'expires'>): URLSearchParams {
    const expires = Math.floor(this.now() / 1000) + this.ttlSeconds;
    const signed = { ...download, expires };
    const params = new URLSearchParams({ version: String(download.version), expires: String(expires) });
    if (download.contentDisposition !== undefined) params.set('rcd', download.contentDisposition);
    if (download.contentType !== undefined) params.set('rct', download.contentType);
    params.set('signature', this.mac(signed).toString('base64url'));
    return params;
  }

  /** Whether a signature is this server's over exactly this download, and the URL has not expired. */
  verify(download: SignedDownload, signature: string): 'ok' | 'bad' | 'expired' {
    const given = Buffer.from(signature, 'base64url');
    const expected = this.mac(download);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad';
    return this.now() / 1000 > download.expires ? 'expired' : 'ok';
  }

  /** A text with this server's signature appended (`<base64url text>.<signature>`): opaque, tamper-evident. */
  seal(text: string): string {
    const body = Buffer.from(text, 'utf8').toString('base64url');
    return `${body}.${this.macOf(`sealed:${body}`).toString('base64url')}`;
  }

  /** The text of a sealed string this server signed, or undefined for anything else. */
  unseal(sealed: string): string | undefined {
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(sealed);
    if (!match?.[1] || !match[2]) return undefined;
    const given = Buffer.from(match[2], 'base64url');
    const expected = this.macOf(`sealed:${match[1]}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return Buffer.from(match[1], 'base64url').toString('utf8');
  }

  private macOf(message: string): Buffer {
    return createHmac('sha256', this.key).update(message).digest();
  }

  private mac(download: SignedDownload): Buffer {
    // A JSON array of the fields in a fixed order: no two downloads share a message.
    const message = JSON.stringify([
      'v1',
      download.fileId,
      download.version,
      download.expires,
      download.contentDisposition ?? null,
      download.contentType ?? null,
    ]);
    return this.macOf(message);
  }
}
