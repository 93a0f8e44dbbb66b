import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestServer, MapAuthenticator, apiTestServer } from '../support/api-test-server.js';

/**
 * A reviewer's attacks on serve that cut across routes: bodies built to make a request fail with a 5xx (which
 * the SDK retries about ten times) or to exhaust the server. serve on 127.0.0.1, real Redis.
 */

const TOKEN = 'tok-review-a-8c7b6a5f4e3d';

let server: ApiTestServer;

beforeAll(async () => {
  server = await apiTestServer({
    name: 'api-review',
    server: { authenticator: new MapAuthenticator(new Map([[TOKEN, { orgId: 'og_a', tokenId: 'tk_a' }]])) },
  });
});

afterAll(async () => {
  await server.close({ force: true });
});

async function post(urlPath: string, body: string): Promise<{ status: number; json: unknown }> {
  const { status, text } = await server.request(urlPath, { method: 'POST', token: TOKEN, body });
  return { status, json: JSON.parse(text) as unknown };
}

/** A condition group nested `depth` times around one condition, as JSON text. */
function nested(depth: number): string {
  const leaf = '{"field":"created","comparator":"IS_NOT_NULL"}';
  return `${'{"operator":"AND","conditions":['.repeat(depth)}${leaf}${']}'.repeat(depth)}`;
}

describe('a condition nested deep enough to overflow the stack', () => {
  it.each([
    '/v1/datasets/query',
    '/v1/files/query',
    '/v1/actions/invocations/query',
    '/v1/actions/query',
    '/v1/actions/query/actionhub',
  ])('%s answers 400, not a 500 the SDK retries', async (route) => {
    const answer = await post(route, `{"condition":${nested(25_000)}}`);
    expect(answer.status, JSON.stringify(answer.json)).toBe(400);
    expect(answer.json).toMatchObject({ error: { error_code: 'RobotoInvalidRequestException' } });
  });
});

describe('a condition group of very many conditions', () => {
  it.each(['/v1/datasets/query', '/v1/files/query', '/v1/actions/invocations/query', '/v1/actions/query'])(
    '%s answers 200 or 400, never a 500',
    async (route) => {
      const leaf = '{"field":"created","comparator":"IS_NOT_NULL"}';
      const answer = await post(
        route,
        `{"condition":{"operator":"OR","conditions":[${Array(15_000).fill(leaf).join(',')}]}}`,
      );
      expect([200, 400], JSON.stringify(answer.json).slice(0, 300)).toContain(answer.status);
    },
  );
});

describe('a RoboQL query nested deep enough to overflow the stack', () => {
  it.each([
    ['parentheses', `${'('.repeat(200_000)}name = "a"${')'.repeat(200_000)}`],
    ['NOT', `${'NOT '.repeat(200_000)}name = "a"`],
  ])('%s: the query service answers 400, not a 500 the SDK retries', async (_kind, query) => {
    const answer = await post('/v1/query/submit/roboql', JSON.stringify({ query, target: 'datasets' }));
    expect(answer.status, JSON.stringify(answer.json).slice(0, 300)).toBe(400);
    expect(answer.json).toMatchObject({ error: { error_code: 'RobotoInvalidRequestException' } });
  });
});

describe('a RoboQL query of very many terms', () => {
  it.each(['AND', 'OR'])('%s: answers 200 or 400, never a 500', async (word) => {
    const query = Array(15_000).fill('name = "a"').join(` ${word} `);
    for (const target of ['datasets', 'files']) {
      const answer = await post('/v1/query/submit/roboql', JSON.stringify({ query, target }));
      expect([200, 400], JSON.stringify(answer.json).slice(0, 300)).toContain(answer.status);
    }
  });
});
