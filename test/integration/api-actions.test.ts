import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiTestServer, type TestOrg, apiTestServer } from '../support/api-test-server.js';
import { minimalActionBody } from '../support/sdk-bodies.js';

/** Every key of spec §2.1's ActionRecord: the answer carries all of them. */
const RECORD_KEYS = [
  'accessibility',
  'compute_requirements',
  'container_parameters',
  'created',
  'created_by',
  'description',
  'digest',
  'inherits',
  'metadata',
  'modified',
  'modified_by',
  'name',
  'org_id',
  'parameters',
  'published',
  'requires_downloaded_inputs',
  'short_description',
  'tags',
  'timeout',
  'uri',
];
const WIRE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$/;

/** The SDK's minimal create body (spec A1): all twelve keys. */
const minimalBody = (name: string) => minimalActionBody(name, 'img:1');

type Org = TestOrg;
type Json = Record<string, unknown>;
/** An ActionRecord as answered (the keys the tests read typed). */
type Item = Json & { name: string; org_id: string; digest: string; created: string; modified: string };
/** The parts of an answer the tests read. */
interface Body {
  data: Item & { items: Item[]; next_token: string | null; total_count: number; description: string | null };
  error: { error_code: string; message: string };
}

let server: ApiTestServer;
let orgA: Org;
let orgB: Org;

/** A request as the SDK makes it: bearer token, JSON body, org headers when given. */
async function call(
  method: string,
  path: string,
  options: { as?: Org | null; body?: unknown; rawBody?: string; caller?: string; owner?: string } = {},
): Promise<{ status: number; json: Body; text: string }> {
  const headers: Record<string, string> = { connection: 'close' };
  const as = options.as === undefined ? orgA : options.as;
  if (options.caller !== undefined) headers['x-roboto-org-id'] = options.caller;
  if (options.owner !== undefined) headers['x-roboto-resource-owner-id'] = options.owner;
  const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const { status, text, json } = await server.request(path, {
    method,
    token: as === null ? null : as.token,
    body,
    headers,
  });
  // Not JSON: the test reads `text`.
  return { status, json: (json === undefined ? {} : json) as Body, text };
}

const create = (name: string, extra: Record<string, unknown> = {}, as: Org = orgA) =>
  call('POST', '/v1/actions', { as, body: { ...minimalBody(name), ...extra }, caller: as.orgId });

beforeAll(async () => {
  server = await apiTestServer({ name: 'api-actions', orgs: ['A', 'B'], serve: true });
  [orgA, orgB] = server.orgs as [Org, Org];
});

afterAll(async () => {
  await server.close();
});

describe('serve: registered actions over a real socket, real tokens and Redis (spec §3.1 A1–A7)', () => {
  it('creates version 1 in the caller org with every ActionRecord key and a digest (A1)', async () => {
    const { status, json } = await create('tag-dataset');
    expect(status).toBe(200);
    const record = json.data as Json;
    expect(Object.keys(record).sort()).toEqual(RECORD_KEYS);
    expect(record).toMatchObject({
      name: 'tag-dataset',
      org_id: orgA.orgId,
      created_by: orgA.tokenId,
      modified_by: orgA.tokenId,
      accessibility: 'organization',
      published: null,
      metadata: {},
      tags: [],
      parameters: [],
      uri: 'img:1',
      inherits: null,
      timeout: null,
    });
    expect(record.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(record.created).toMatch(WIRE_TIME);
    expect(record.modified).toBe(record.created);
    // Without a caller header the token's one org is the caller org.
    const implicit = await call('POST', '/v1/actions', { body: minimalBody('implicit-org') });
    expect(implicit.json.data.org_id).toBe(orgA.orgId);
  });

  it('fills nested defaults and stores parameter defaults as strings (the SDK fuller body)', async () => {
    const { status, json } = await call('POST', '/v1/actions', {
      body: {
        name: 'fuller',
        compute_requirements: { vCPU: 1024, memory: 2048 },
        container_parameters: { env_vars: { A: '1' } },
        description: 'd',
        inherits: null,
        metadata: { m: 1, f: 0.5 },
        parameters: [
          { name: 'p', default: '3' },
          { name: 'q', default: 4 },
        ],
        requires_downloaded_inputs: false,
        short_description: 's',
        tags: ['x'],
        timeout: 10,
        uri: 'img:1',
        unknown_key: 'ignored',
      },
    });
    expect(status).toBe(200);
    expect(json.data).toMatchObject({
      compute_requirements: { vCPU: 1024, memory: 2048, gpu: false, storage: 21 },
      container_parameters: { command: null, entry_point: null, env_vars: { A: '1' }, workdir: null },
      parameters: [
        { name: 'p', required: false, description: null, default: '3' },
        { name: 'q', required: false, description: null, default: '4' },
      ],
      metadata: { m: 1, f: 0.5 },
      requires_downloaded_inputs: false,
      timeout: 10,
    });
    expect(json.data).not.toHaveProperty('unknown_key');
  });

  it('answers a second create of the name, even an identical replay, 409 and keeps the first (A1)', async () => {
    const first = await create('replayed', { description: 'one' });
    const replay = await create('replayed', { description: 'one' });
    expect(replay.status).toBe(409);
    expect(replay.json).toEqual({
      error: { error_code: 'RobotoConflictException', message: expect.any(String) },
    });
    const other = await create('replayed', { description: 'two' });
    expect(other.status).toBe(409);
    expect((await call('GET', '/v1/actions/replayed')).json.data).toEqual(first.json.data);
    // Another org may have its own action of that name.
    expect((await create('replayed', {}, orgB)).status).toBe(200);
  });

  it('updates into a new version with a new digest; earlier versions stay gettable by digest (A2, A3)', async () => {
    const v1 = (await create('versioned', { tags: ['t1'], metadata: { k: 'v' } })).json.data;
    const put = await call('PUT', '/v1/actions/versioned', {
      owner: orgA.orgId,
      body: {
        description: 'new',
        timeout: 45,
        metadata_changeset: {
          put_tags: ['t2'],
          remove_tags: ['t1'],
          put_fields: { n: 2 },
          remove_fields: null,
        },
        parameter_changeset: { put_parameters: [{ name: 'q', required: true }], remove_parameters: [] },
      },
    });
    expect(put.status).toBe(200);
    const v2 = put.json.data;
    expect(Object.keys(v2).sort()).toEqual(RECORD_KEYS);
    expect(v2).toMatchObject({
      description: 'new',
      timeout: 45,
      tags: ['t2'],
      metadata: { k: 'v', n: 2 },
      parameters: [{ name: 'q', required: true, description: null, default: null }],
      created: v1.created,
      uri: 'img:1',
    });
    expect(v2.digest).not.toBe(v1.digest);
    expect(Date.parse(v2.modified)).toBeGreaterThan(Date.parse(v1.modified));

    expect((await call('GET', '/v1/actions/versioned')).json.data).toEqual(v2);
    expect((await call('GET', `/v1/actions/versioned?digest=${v1.digest}`)).json.data).toEqual(v1);
    expect((await call('GET', `/v1/actions/versioned?digest=${v2.digest}`)).json.data).toEqual(v2);
    const unknown = await call('GET', `/v1/actions/versioned?digest=${'0'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.error_code).toBe('RobotoNotFoundException');

    // null clears.
    const cleared = await call('PUT', '/v1/actions/versioned', { body: { description: null } });
    expect(cleared.json.data.description).toBeNull();
  });

  it('loses no update when PUTs race, each making a version of its own', async () => {
    await create('raced');
    const tags = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
    const answers = await Promise.all(
      tags.map((tag) =>
        call('PUT', '/v1/actions/raced', { body: { metadata_changeset: { put_tags: [tag] } } }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(tags.map(() => 200));
    expect(new Set(answers.map((answer) => answer.json.data.digest)).size).toBe(tags.length);
    const latest = await call('GET', '/v1/actions/raced');
    expect([...(latest.json.data.tags as string[])].sort()).toEqual(tags);
    for (const answer of answers) {
      const version = await call('GET', `/v1/actions/raced?digest=${answer.json.data.digest}`);
      expect(version.json.data).toEqual(answer.json.data);
    }
  });

  it('refuses invalid content with 400 naming the field, writing nothing', async () => {
    await create('strict');
    const cases: [string, string, unknown, string][] = [
      [
        'POST',
        '/v1/actions',
        { ...minimalBody('x'), short_description: 'y'.repeat(141) },
        'short_description',
      ],
      [
        'POST',
        '/v1/actions',
        { ...minimalBody('x'), compute_requirements: { vCPU: 256, memory: 8192 } },
        'memory',
      ],
      ['POST', '/v1/actions', { ...minimalBody('x'), metadata: { k: { nested: 1 } } }, 'metadata'],
      ['POST', '/v1/actions', { ...minimalBody('x'), inherits: { name: 'base' } }, 'uri'],
      ['POST', '/v1/actions', { ...minimalBody('a/b') }, 'name'],
      ['POST', '/v1/actions', { uri: 'img' }, 'name'],
      ['PUT', '/v1/actions/strict', { short_description: 'z'.repeat(141) }, 'short_description'],
      ['PUT', '/v1/actions/strict', { metadata_changeset: { put_fields: { 'a.b': 1 } } }, 'metadata'],
      ['PUT', '/v1/actions/strict', { timeout: 'soon' }, 'timeout'],
      ['PUT', '/v1/actions/strict/accessibility', { accessibility: 'public' }, 'accessibility'],
      ['POST', '/v1/actions/query', { limit: 1001 }, 'limit'],
      ['POST', '/v1/actions/query', { condition: { field: 'nope', comparator: 'EQUALS', value: 1 } }, 'nope'],
      ['POST', '/v1/actions/query', { after: 'not a token' }, 'token'],
    ];
    for (const [method, path, body, field] of cases) {
      const { status, json } = await call(method, path, { body });
      expect(status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(json.error.error_code).toBe('RobotoInvalidRequestException');
      expect(json.error.message, JSON.stringify(body)).toContain(field);
    }
    const badJson = await call('POST', '/v1/actions', { rawBody: '{"name":' });
    expect(badJson.status).toBe(400);
    expect(badJson.json.error.error_code).toBe('RobotoInvalidRequestException');
    expect((await call('GET', '/v1/actions/strict?digest=a&extra=1')).status).toBe(400);
    const versions = await call('POST', '/v1/actions/query', {
      body: { condition: { field: 'name', comparator: 'EQUALS', value: 'strict' } },
    });
    const [only] = versions.json.data.items;
    expect(only?.modified).toBe(only?.created);
  });

  it('decodes percent-encoded names and answers a name that cannot exist 404 (spec §1.2)', async () => {
    await create('my.action-1');
    const encoded = await call('GET', '/v1/actions/my%2Eaction%2D1');
    expect(encoded.status).toBe(200);
    expect(encoded.json.data.name).toBe('my.action-1');
    const slash = await call('GET', '/v1/actions/a%2Fb');
    expect(slash.status).toBe(404);
    expect(slash.json.error.error_code).toBe('RobotoNotFoundException');
  });

  it('sets accessibility without a new version; a hub action is readable, never writable, by another org (A5)', async () => {
    const v1 = (await create('shared', { tags: ['hub'] })).json.data;
    const hub = await call('PUT', '/v1/actions/shared/accessibility', {
      body: { accessibility: 'action_hub' },
    });
    expect(hub.status).toBe(200);
    expect(hub.json.data).toEqual({
      ...v1,
      accessibility: 'action_hub',
      published: expect.stringMatching(WIRE_TIME),
    });

    const read = await call('GET', '/v1/actions/shared', { as: orgB, owner: orgA.orgId });
    expect(read.status).toBe(200);
    expect(read.json.data).toEqual(hub.json.data);
    const byDigest = await call('GET', `/v1/actions/shared?digest=${v1.digest}`, {
      as: orgB,
      owner: orgA.orgId,
    });
    expect(byDigest.status).toBe(200);
    const listed = await call('POST', '/v1/actions/query/actionhub', { as: orgB, body: {} });
    expect(listed.json.data.items.map((item: Item) => `${item.org_id}/${item.name}`)).toContain(
      `${orgA.orgId}/shared`,
    );
    const ownerQuery = await call('POST', '/v1/actions/query', { as: orgB, owner: orgA.orgId, body: {} });
    expect(ownerQuery.json.data.items.map((item: Item) => item.name)).toEqual(['shared']);

    // Writes by the other org: answered as missing, nothing changed.
    const missingPut = await call('PUT', '/v1/actions/no-such-action', {
      as: orgB,
      owner: orgB.orgId,
      body: {},
    });
    for (const [method, path, body] of [
      ['PUT', '/v1/actions/shared', { description: 'hijacked' }],
      ['PUT', '/v1/actions/shared/accessibility', { accessibility: 'organization' }],
      ['DELETE', '/v1/actions/shared', undefined],
    ] as const) {
      const attempt = await call(method, path, { as: orgB, owner: orgA.orgId, body });
      expect(attempt.status, `${method} ${path}`).toBe(404);
      expect(attempt.json.error.error_code).toBe('RobotoNotFoundException');
      expect(attempt.json.error.message.replace('shared', 'NAME')).toBe(
        missingPut.json.error.message.replace('no-such-action', 'NAME'),
      );
    }
    expect((await call('GET', '/v1/actions/shared')).json.data).toEqual(hub.json.data);

    const back = await call('PUT', '/v1/actions/shared/accessibility', {
      body: { accessibility: 'organization' },
    });
    expect(back.json.data).toEqual({ ...v1, accessibility: 'organization', published: null });
    expect((await call('GET', '/v1/actions/shared', { as: orgB, owner: orgA.orgId })).status).toBe(404);
  });

  it("answers another org's action on every route exactly as a missing one (the attack: reading and writing across orgs)", async () => {
    const secret = (await create('private-action', { description: 'secret plans' })).json.data;
    const routes: [string, string, unknown][] = [
      ['GET', '/v1/actions/NAME', undefined],
      ['GET', `/v1/actions/NAME?digest=${secret.digest}`, undefined],
      ['PUT', '/v1/actions/NAME', { description: 'x' }],
      ['PUT', '/v1/actions/NAME/accessibility', { accessibility: 'action_hub' }],
      ['DELETE', '/v1/actions/NAME', undefined],
    ];
    for (const [method, template, body] of routes) {
      for (const owner of [orgA.orgId, undefined]) {
        const theirs = await call(method, template.replace('NAME', 'private-action'), {
          as: orgB,
          owner,
          body,
        });
        const missing = await call(method, template.replace('NAME', 'absent-action'), {
          as: orgB,
          owner,
          body,
        });
        expect(theirs.status, `${method} ${template} owner=${String(owner)}`).toBe(404);
        expect(missing.status).toBe(404);
        expect(theirs.json.error.error_code).toBe(missing.json.error.error_code);
        expect(theirs.json.error.message.replace('private-action', 'NAME')).toBe(
          missing.json.error.message.replace('absent-action', 'NAME'),
        );
        expect(theirs.text).not.toContain('secret plans');
      }
    }
    // Queries: org B sees none of A's organization-level actions, asked for its own org or A's.
    for (const owner of [orgA.orgId, undefined]) {
      const query = await call('POST', '/v1/actions/query', { as: orgB, owner, body: {} });
      expect(query.status).toBe(200);
      expect(query.json.data.items.map((item: Item) => item.name)).not.toContain('private-action');
    }
    const hub = await call('POST', '/v1/actions/query/actionhub', { as: orgB, body: {} });
    expect(hub.json.data.items.map((item: Item) => item.name)).not.toContain('private-action');
    // Creating in A's org with B's token is refused.
    const planted = await call('POST', '/v1/actions', {
      as: orgB,
      caller: orgA.orgId,
      body: minimalBody('planted'),
    });
    expect(planted.status).toBe(403);
    expect(planted.json.error.error_code).toBe('RobotoUnauthorizedException');
    expect((await call('GET', '/v1/actions/planted')).status).toBe(404);
    // Nothing changed.
    expect((await call('GET', '/v1/actions/private-action')).json.data).toEqual(secret);
  });

  it('refuses every route without a valid bearer token with 401', async () => {
    for (const [method, path] of [
      ['GET', '/v1/actions/tag-dataset'],
      ['POST', '/v1/actions/query'],
      ['DELETE', '/v1/actions/tag-dataset'],
    ] as const) {
      const { status, json } = await call(method, path, {
        as: null,
        body: method === 'POST' ? {} : undefined,
      });
      expect(status).toBe(401);
      expect(json.error.error_code).toBe('RobotoUnauthorizedException');
      const forged = await call(method, path, {
        as: { ...orgA, token: `${orgA.token.slice(0, -4)}AAAA` },
        body: method === 'POST' ? {} : undefined,
      });
      expect(forged.status).toBe(401);
    }
  });

  it('pages queries with limit, after and total, no token on the last page, condition and sort honoured (A6, A7)', async () => {
    const org = orgB;
    for (const name of ['page-a', 'page-b', 'page-c', 'page-d', 'page-e'])
      await create(name, { tags: ['paged'] }, org);
    await create('unpaged', {}, org);
    const condition = { field: 'tags', comparator: 'CONTAINS', value: 'paged' };
    const names: string[] = [];
    let after: string | null = null;
    const tokens: (string | null)[] = [];
    do {
      const body: Json = { condition, limit: 2, sort_by: 'name', sort_direction: 'ASC' };
      if (after !== null) body.after = after;
      const { status, json } = await call('POST', '/v1/actions/query', { as: org, body });
      expect(status).toBe(200);
      expect(Object.keys(json.data).sort()).toEqual(['items', 'next_token', 'total_count']);
      expect(json.data.total_count).toBe(5);
      for (const item of json.data.items) {
        expect(Object.keys(item).sort()).toEqual(RECORD_KEYS);
        names.push(item.name);
      }
      after = json.data.next_token;
      tokens.push(after);
    } while (after !== null);
    expect(names).toEqual(['page-a', 'page-b', 'page-c', 'page-d', 'page-e']);
    expect(tokens).toEqual([expect.any(String), expect.any(String), null]);

    // Exactly a page's worth: no token for the empty tail.
    const exact = await call('POST', '/v1/actions/query', { as: org, body: { condition, limit: 5 } });
    expect(exact.json.data.items).toHaveLength(5);
    expect(exact.json.data.next_token).toBeNull();
    // Default: newest first.
    const newest = await call('POST', '/v1/actions/query', { as: org, body: { condition } });
    expect(newest.json.data.items.map((item: Item) => item.name)).toEqual([
      'page-e',
      'page-d',
      'page-c',
      'page-b',
      'page-a',
    ]);
    // The latest version of each action.
    await call('PUT', '/v1/actions/page-c', { as: org, body: { description: 'second' } });
    const latest = await call('POST', '/v1/actions/query', {
      as: org,
      body: { condition: { field: 'name', comparator: 'EQUALS', value: 'page-c' } },
    });
    expect(latest.json.data.items.map((item: Item) => item.description)).toEqual(['second']);
    // The CLI's search shape.
    const cli = await call('POST', '/v1/actions/query', {
      as: org,
      body: {
        condition: {
          operator: 'AND',
          conditions: [
            { field: 'name', comparator: 'EQUALS', value: 'page-a' },
            { field: 'tags', comparator: 'CONTAINS', value: 'paged' },
          ],
        },
        sort_direction: 'DESC',
      },
    });
    expect(cli.json.data.items.map((item: Item) => item.name)).toEqual(['page-a']);
  });

  it('deletes every version; later gets answer 404; the name can be created again (A4)', async () => {
    const v1 = (await create('doomed')).json.data;
    await call('PUT', '/v1/actions/doomed', { body: { description: 'v2' } });
    const deleted = await call('DELETE', '/v1/actions/doomed', { owner: orgA.orgId });
    expect(deleted.status).toBe(200);
    expect((await call('GET', '/v1/actions/doomed')).status).toBe(404);
    expect((await call('GET', `/v1/actions/doomed?digest=${v1.digest}`)).status).toBe(404);
    expect((await call('DELETE', '/v1/actions/doomed')).status).toBe(404);
    expect((await call('PUT', '/v1/actions/doomed', { body: {} })).status).toBe(404);
    const again = await create('doomed', { description: 'reborn' });
    expect(again.status).toBe(200);
    expect(again.json.data.description).toBe('reborn');
    expect((await call('GET', '/v1/actions/doomed')).json.data).toEqual(again.json.data);
  });
});
