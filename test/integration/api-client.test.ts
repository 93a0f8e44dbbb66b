import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/adapters/http/api-client.js';
import { InfrastructureError, UsageError } from '../../src/domain/errors.js';

const TOKEN = 'tok-client-secret-7c1d';

/** What the last request was, as the server saw it. */
let seen: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string } = {
  headers: {},
  body: '',
};

/** A loopback server answering by path: the client's whole contract over a real socket. */
function answer(request: IncomingMessage, response: ServerResponse, body: string): void {
  seen = { method: request.method, url: request.url, headers: request.headers, body };
  const send = (status: number, payload: string) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(payload);
  };
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  if (path.endsWith('/ok')) send(200, JSON.stringify({ data: { hello: 'world' } }));
  else if (path.endsWith('/missing'))
    send(404, JSON.stringify({ error: { error_code: 'RobotoNotFoundException', message: 'gone' } }));
  else if (path.endsWith('/busy'))
    send(
      429,
      JSON.stringify({ error: { error_code: 'RobotoLimitExceededException', message: 'slow down' } }),
    );
  else if (path.endsWith('/broken')) send(502, '<html>bad gateway</html>');
  else send(500, '');
}

let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      answer(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const client = (url = base) => new ApiClient({ url, token: TOKEN });

describe('ApiClient, against a loopback HTTP server', () => {
  it('sends the bearer token, the JSON body, the query and the owner header; returns `data`', async () => {
    const data = await client(`${base}/prefix/`).call({
      method: 'POST',
      path: '/v1/ok',
      query: { a: '1', b: undefined },
      body: { x: 1 },
      ownerOrgId: 'og_1',
    });
    expect(data).toEqual({ hello: 'world' });
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/prefix/v1/ok?a=1',
      body: '{"x":1}',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        'x-roboto-resource-owner-id': 'og_1',
      },
    });
  });

  it('sends no body and no content type on a GET', async () => {
    await client().call({ method: 'GET', path: '/v1/ok' });
    expect(seen.body).toBe('');
    expect(seen.headers['content-type']).toBeUndefined();
  });

  it("turns a 4xx into a UsageError naming the server's code, and 429 or 5xx into a retryable E_IO", async () => {
    const missing = client().call({ method: 'GET', path: '/v1/missing' });
    await expect(missing).rejects.toBeInstanceOf(UsageError);
    await expect(missing).rejects.toThrow('GET /v1/missing: RobotoNotFoundException: gone');
    for (const path of ['/v1/busy', '/v1/broken', '/v1/empty']) {
      const failed = client().call({ method: 'GET', path });
      await expect(failed).rejects.toBeInstanceOf(InfrastructureError);
      await expect(failed).rejects.toMatchObject({ code: 'E_IO', retryable: true });
    }
    await expect(client().call({ method: 'GET', path: '/v1/broken' })).rejects.toThrow(
      'GET /v1/broken: HTTP 502: Bad Gateway',
    );
  });

  it('names the origin, never the token, when nothing answers', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = (await client(`http://127.0.0.1:${port}/x`)
      .call({ method: 'GET', path: '/v1/ok' })
      .catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error.message).toContain(`cannot reach the API at http://127.0.0.1:${port}`);
    expect(error.message).not.toContain(TOKEN);
  });

  it('refuses credentials in the URL without repeating them (fetch would print the whole URL)', () => {
    const refuse = () => new ApiClient({ url: `${base.replace('//', '//user:pw-secret@')}/`, token: TOKEN });
    expect(refuse).toThrow(UsageError);
    expect(refuse).toThrow('--endpoint must not carry credentials');
    expect(refuse).not.toThrow('pw-secret');
  });

  it('refuses a URL that is not http(s) and an empty token, before any request', () => {
    expect(() => new ApiClient({ url: 'ftp://127.0.0.1/', token: TOKEN })).toThrow(UsageError);
    expect(() => new ApiClient({ url: 'not a url', token: TOKEN })).toThrow('is not a URL');
    expect(() => new ApiClient({ url: base, token: '  ' })).toThrow('the API token is empty');
  });
});
