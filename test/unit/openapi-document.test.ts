import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPENAPI_PATH, openApiDocument } from '../../src/api/openapi.js';
import { projectRoot } from '../support/paths.js';

describe('docs/openapi.json', () => {
  it("is what the routes' schemas generate (run `npm run openapi` after changing them)", async () => {
    const checkedIn: unknown = JSON.parse(readFileSync(path.join(projectRoot, OPENAPI_PATH), 'utf8'));
    expect(checkedIn, `${OPENAPI_PATH} is stale: run npm run openapi`).toEqual(await openApiDocument());
  });

  it('documents the dataset route with its record and the error envelope', async () => {
    const document = (await openApiDocument()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const get = document.paths['/v1/datasets/{dataset_id}']?.get;
    expect(Object.keys(get?.responses ?? {})).toEqual(expect.arrayContaining(['200', '401', '404']));
    expect(Object.keys(document.paths)).not.toContain('/healthz');
  });
});
