import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP server on a free loopback port that records every request it gets and drops the connection: an
 * address a crafted image reference points at, to prove nothing of ours ever sends it a request.
 */
export interface TrapServer {
  port: number;
  /** `METHOD URL` of every request received. */
  hits: string[];
  close(): Promise<void>;
}

export async function startTrapServer(): Promise<TrapServer> {
  const hits: string[] = [];
  const server = createServer((request) => {
    hits.push(`${request.method ?? ''} ${request.url ?? ''}`);
    request.socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}
