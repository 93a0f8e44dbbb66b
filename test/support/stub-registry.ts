import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type RegistryMode = 'unauthorized' | 'not-found' | 'hang';

/**
 * A stand-in for an image registry on loopback, enough for the real Docker engine to fail a pull the way
 * a registry makes it fail. (The engine treats 127.0.0.0/8 registries as plain HTTP.)
 */
export class StubRegistry {
  readonly requests: { method: string; url: string; authorization: string | undefined }[] = [];
  private readonly server: http.Server;
  private readonly hanging = new Set<http.ServerResponse>();

  constructor(
    private mode: RegistryMode,
    /** `user:password` the registry accepts; then unauthenticated requests get 401. */
    private readonly credentials?: string,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }

  manifestRequests(): number {
    return this.requests.filter((request) => request.url.includes('/manifests/')).length;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
    });
    const headers = { 'Content-Type': 'application/json', 'Docker-Distribution-Api-Version': 'registry/2.0' };
    const expected = this.credentials
      ? `Basic ${Buffer.from(this.credentials).toString('base64')}`
      : undefined;
    if (this.mode === 'unauthorized' || (expected !== undefined && req.headers.authorization !== expected)) {
      res.writeHead(401, { ...headers, 'WWW-Authenticate': 'Basic realm="stub"' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    if (req.url === '/v2/') {
      res.writeHead(200, headers);
      res.end('{}');
      return;
    }
    if (this.mode === 'hang') {
      this.hanging.add(res);
      return;
    }
    res.writeHead(404, headers);
    res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
  }
}
