import { InfrastructureError, UsageError } from '../../domain/errors.js';

/** How to reach an action-worker (or Roboto-compatible) API. */
export interface ApiEndpoint {
  /** Base URL, e.g. `http://127.0.0.1:8080` (a trailing slash is fine). */
  url: string;
  /** The bearer token; sent, never logged or printed. */
  token: string;
}

export interface ApiRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path from the root, each dynamic segment already percent-encoded (`/v1/actions/invocations/iv_1`). */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** X-Roboto-Resource-Owner-Id, for name-addressed routes of another org. */
  ownerOrgId?: string;
  /** X-Roboto-Org-Id: the org the caller acts for (creates, upload begins). */
  callerOrgId?: string;
}

/** Raw bytes to PUT (an upload's content), streamed. */
export interface ApiBytes {
  /** Path from the root, each dynamic segment already percent-encoded. */
  path: string;
  body: ReadableStream<Uint8Array>;
  signal?: AbortSignal;
}

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * A small client of the HTTP API for the CLI's `--endpoint` mode: JSON in, `{"data": …}` out, the error
 * envelope turned into one of our errors naming the server's code and message (never the token).
 */
export class ApiClient {
  private readonly base: URL;

  constructor(private readonly endpoint: ApiEndpoint) {
    let base: URL;
    try {
      base = new URL(endpoint.url);
    } catch {
      throw new UsageError(`--endpoint "${endpoint.url}" is not a URL`, 'E_USAGE');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new UsageError(`--endpoint "${endpoint.url}" must be an http:// or https:// URL`, 'E_USAGE');
    }
    if (base.username !== '' || base.password !== '') {
      // Not echoed: fetch would refuse it later with the whole URL, password included, in its message.
      throw new UsageError(
        '--endpoint must not carry credentials (user:password@): the token comes from the environment',
        'E_USAGE',
      );
    }
    if (endpoint.token.trim() === '') throw new UsageError('the API token is empty', 'E_USAGE');
    this.base = base;
  }

  /** The `data` of a success; the error answer as a UsageError (4xx) or E_IO, E_IO when the server cannot be reached. */
  async call<T>(request: ApiRequest): Promise<T> {
    const url = new URL(this.base.pathname.replace(/\/+$/, '') + request.path, this.base);
    for (const [name, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, value);
    }
    const headers: Record<string, string> = { authorization: `Bearer ${this.endpoint.token}` };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (request.ownerOrgId !== undefined) headers['x-roboto-resource-owner-id'] = request.ownerOrgId;
    if (request.callerOrgId !== undefined) headers['x-roboto-org-id'] = request.callerOrgId;
    return this.send<T>(request.method, request.path, url, {
      method: request.method,
      headers,
      ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  }

  /**
   * PUTs raw bytes (application/octet-stream), streamed, to a path of this endpoint (never to another
   * host: the token goes nowhere else). No time limit of its own: a large file takes what it takes.
   */
  async putBytes<T>(bytes: ApiBytes): Promise<T> {
    const url = new URL(this.base.pathname.replace(/\/+$/, '') + bytes.path, this.base);
    return this.send<T>('PUT', bytes.path, url, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${this.endpoint.token}`,
        'content-type': 'application/octet-stream',
      },
      body: bytes.body,
      // Node's fetch streams a request body only half-duplex (not in the DOM's RequestInit type).
      ...({ duplex: 'half' } as object),
      ...(bytes.signal === undefined ? {} : { signal: bytes.signal }),
    });
  }

  private async send<T>(method: string, path: string, url: URL, init: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw new InfrastructureError(
        `cannot reach the API at ${this.base.origin}: ${(error as Error).message}`,
        'E_IO',
        error,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const envelope = (parsed as { error?: { error_code?: unknown; message?: unknown } } | undefined)?.error;
      const code = typeof envelope?.error_code === 'string' ? envelope.error_code : `HTTP ${response.status}`;
      const message = typeof envelope?.message === 'string' ? envelope.message : response.statusText;
      throw answerError(response.status, `${method} ${path}: ${code}: ${message}`);
    }
    return (parsed as { data: T } | undefined)?.data as T;
  }
}

/**
 * An error answer of the API as one of our errors: a 4xx is the caller's (bad input: a wrong id, a refused
 * token), anything else the server's, which may pass (retryable E_IO).
 */
function answerError(status: number, message: string): Error {
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new UsageError(message, 'E_INVALID_INPUT');
  }
  return new InfrastructureError(message, 'E_IO');
}
