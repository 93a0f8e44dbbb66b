import { describe, expect, it } from 'vitest';
import { foldFileChangeset, parseDatasetChangeset } from '../../src/domain/file-changeset.js';
import { applyChangeset } from '../../src/domain/metadata-changeset.js';

// The five lines of spec §4.4, as the SDK's file_changeset_manager writes them.
const SPEC_LINES = [
  '{"relative_path":"images/a.jpg","update":{"description":{},"device_id":{},"metadata_changeset":{"put_tags":["cloudy","rainy"],"remove_tags":null,"put_fields":null,"remove_fields":null,"replace_all":false},"ingestion_complete":{}}}',
  '{"relative_path":"images/a.jpg","update":{"description":{},"device_id":{},"metadata_changeset":{"put_tags":null,"remove_tags":["rainy"],"put_fields":null,"remove_fields":null,"replace_all":false},"ingestion_complete":{}}}',
  '{"relative_path":"images/a.jpg","update":{"description":{},"device_id":{},"metadata_changeset":{"put_tags":null,"remove_tags":null,"put_fields":{"cars":2,"trucks":3},"remove_fields":null,"replace_all":false},"ingestion_complete":{}}}',
  '{"relative_path":"images/a.jpg","update":{"description":{},"device_id":{},"metadata_changeset":{"put_tags":null,"remove_tags":null,"put_fields":null,"remove_fields":["trucks"],"replace_all":false},"ingestion_complete":{}}}',
  '{"relative_path":"images/a.jpg","update":{"description":"over-exposed","device_id":{},"metadata_changeset":{},"ingestion_complete":{}}}',
];
const B_LINES = [
  '{"relative_path":"b.txt","update":{"description":null,"device_id":{},"metadata_changeset":{},"ingestion_complete":{}}}',
  '{"relative_path":"b.txt","update":{"description":{},"device_id":{},"metadata_changeset":{"put_tags":["late"],"remove_tags":null,"put_fields":null,"remove_fields":null,"replace_all":false},"ingestion_complete":{}}}',
];
const C_LINE =
  '{"relative_path":"c.txt","update":{"description":"only desc","device_id":{},"metadata_changeset":{},"ingestion_complete":{}}}';

function foldOk(text: string) {
  const result = foldFileChangeset(text);
  if (!result.ok) throw new Error(`fold failed: ${result.reason}`);
  return result.updates;
}

describe('foldFileChangeset', () => {
  it('folds the spec §4.4 worked example', () => {
    const updates = foldOk([...SPEC_LINES, ...B_LINES, C_LINE].join('\n') + '\n');
    const a = updates.get('images/a.jpg');
    expect(a?.description).toBe('over-exposed');
    expect(new Set(a?.metadataChangeset?.put_tags)).toEqual(new Set(['rainy', 'cloudy']));
    expect(a?.metadataChangeset).toMatchObject({
      remove_tags: ['rainy'],
      put_fields: { cars: 2, trucks: 3 },
      remove_fields: ['trucks'],
    });
    expect(applyChangeset({ tags: [], metadata: {} }, a!.metadataChangeset!)).toEqual({
      tags: ['cloudy'],
      metadata: { cars: 2 },
    });

    const b = updates.get('b.txt');
    expect(b?.description).toBeNull();
    expect(b?.metadataChangeset).toMatchObject({
      put_tags: ['late'],
      remove_tags: null,
      put_fields: null,
      remove_fields: null,
    });

    const c = updates.get('c.txt');
    expect(c?.description).toBe('only desc');
    expect(c?.metadataChangeset).toEqual({
      put_tags: null,
      remove_tags: null,
      put_fields: null,
      remove_fields: null,
      replace_all: false,
    });
  });

  it('applies nothing when any line is malformed, and says which', () => {
    const result = foldFileChangeset(
      [SPEC_LINES[0], '{"relative_path": 5, "update": {}}', C_LINE].join('\n'),
    );
    expect(result).toMatchObject({ ok: false, lineNumber: 2 });
    expect(foldFileChangeset(`${C_LINE}\nnot json\n`)).toMatchObject({ ok: false, lineNumber: 2 });
  });

  it('names the field of a malformed line as every zod message of the worker does', () => {
    expect(foldFileChangeset('{"relative_path": 5, "update": {}}')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^relative_path: /),
    });
    const nested = JSON.stringify({
      relative_path: 'a',
      update: { metadata_changeset: { put_tags: ['x', 5] } },
    });
    expect(foldFileChangeset(nested)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^update\.metadata_changeset\.put_tags\[1\]: /),
    });
    expect(foldFileChangeset('5')).toMatchObject({ ok: false, reason: expect.stringMatching(/^\(root\): /) });
  });

  it('treats a blank line in the middle as a bad line, as Python readlines does', () => {
    expect(foldFileChangeset(`${C_LINE}\n\n${C_LINE}\n`)).toMatchObject({ ok: false, lineNumber: 2 });
  });

  it('accepts an empty file and a last line without a newline', () => {
    expect(foldOk('').size).toBe(0);
    expect(foldOk(C_LINE).get('c.txt')?.description).toBe('only desc');
  });

  it('leaves a path without description lines with its description unset', () => {
    const updates = foldOk(`${SPEC_LINES[0]}\n`);
    expect('description' in updates.get('images/a.jpg')!).toBe(false);
  });

  it('drops a later changeset for a path whose first line had none, as the SDK does', () => {
    const withoutChangeset = '{"relative_path":"d.txt","update":{"description":"x"}}';
    const later = '{"relative_path":"d.txt","update":{"metadata_changeset":{"put_tags":["t"]}}}';
    const d = foldOk(`${withoutChangeset}\n${later}\n`).get('d.txt');
    expect(d?.metadataChangeset).toBeUndefined();
  });
});

describe('parseDatasetChangeset', () => {
  it('reads an empty or blank file as no changeset', () => {
    expect(parseDatasetChangeset('')).toEqual({ ok: true, changeset: null });
    expect(parseDatasetChangeset(' \n\t')).toEqual({ ok: true, changeset: null });
  });

  it("reads the example actions' single object", () => {
    const result = parseDatasetChangeset(
      '{"put_tags": ["ERROR_commander", "ERROR_ekf2"], "remove_tags": [], "put_fields": {}, "remove_fields": []}',
    );
    expect(result).toEqual({
      ok: true,
      changeset: {
        put_tags: ['ERROR_commander', 'ERROR_ekf2'],
        remove_tags: [],
        put_fields: {},
        remove_fields: [],
        replace_all: false,
      },
    });
  });

  it('tolerates JSON Lines, combined in order', () => {
    const result = parseDatasetChangeset('{"put_tags":["a"]}\n{"put_fields":{"k":1}}\n');
    expect(result).toMatchObject({ ok: true, changeset: { put_tags: ['a'], put_fields: { k: 1 } } });
  });

  it('reports invalid JSON and wrong shapes', () => {
    expect(parseDatasetChangeset('{"put_tags": [')).toMatchObject({ ok: false });
    expect(parseDatasetChangeset('[1,2]')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('not a JSON object'),
    });
    expect(parseDatasetChangeset('{"put_tags": "a"}')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('put_tags'),
    });
    expect(parseDatasetChangeset('{"put_fields": {"k": 1}, "remove_tags": ["a", 7]}')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^remove_tags\[1\]: /),
    });
  });
});
