import { describe, expect, it } from 'vitest';
import { InvocationInput } from '../../src/domain/input-selectors.js';
import { ActionInputRecord } from '../../src/domain/records.js';

// The worked example of spec §4.3.
const MANIFEST = `{"files":[[{"association_id":"ds_abc","created":"2025-01-02T03:04:05Z","created_by":"u@x.com",
"description":null,"device_id":null,"file_id":"fl_123","fs_type":"file","ingestion_status":"not_ingested",
"metadata":{},"modified":"2025-01-02T03:04:05Z","modified_by":"u@x.com","name":"log.txt","org_id":"og_1",
"origination":"","parent_id":null,"relative_path":"logs/log.txt","size":42,"status":"available",
"storage_type":"uploaded","tags":[],"upload_id":"NO_ID","uri":"s3://bucket/og_1/ds_abc/logs/log.txt",
"version":3},"/ws/input/logs/log.txt"]],
"topics":[{"association":{"association_id":"fl_123","association_type":"file","association_version":null,
"parent":null},"created":"2025-01-02T03:04:05Z","created_by":"u","default_representation":null,
"end_time":null,"message_count":null,"message_paths":[],"metadata":{},"modified":"2025-01-02T03:04:05Z",
"modified_by":"u","org_id":"og_1","schema_checksum":null,"schema_id":null,"schema_name":null,
"start_time":null,"topic_id":"tp_1","topic_name":"/imu"}]}`;

describe('ActionInputRecord', () => {
  it('round-trips the spec manifest example unchanged', () => {
    const json = JSON.parse(MANIFEST) as unknown;
    expect(ActionInputRecord.parse(json)).toEqual(json);
  });

  it('fills the SDK defaults of optional FileRecord fields', () => {
    const parsed = ActionInputRecord.parse({
      files: [
        [
          {
            association_id: 'ds_1',
            created: '2025-01-02T03:04:05Z',
            file_id: 'fl_1',
            modified: '2025-01-02T03:04:05Z',
            modified_by: 'u',
            name: 'a',
            org_id: 'og_1',
            relative_path: 'a',
            size: 1,
            uri: 's3://b/a',
            version: 1,
          },
          null,
        ],
      ],
    });
    expect(parsed.files[0]?.[0]).toMatchObject({
      created_by: '',
      fs_type: 'file',
      tags: [],
      upload_id: 'NO_ID',
      status: 'available',
    });
    expect(parsed.topics).toEqual([]);
  });
});

describe('InvocationInput', () => {
  it('accepts one selector or a list and normalises to lists', () => {
    const input = InvocationInput.parse({ files: { dataset_id: 'ds_1', paths: ['**/*.bag'] } });
    expect(input.files).toEqual([
      { dataset_id: 'ds_1', paths: ['**/*.bag'], query: null, ids: null, names: null },
    ]);
    expect(input.topics).toBeNull();
  });

  it('needs files or topics, and a selector needs more than dataset_id', () => {
    expect(InvocationInput.safeParse({}).success).toBe(false);
    const datasetOnly = InvocationInput.safeParse({ files: { dataset_id: 'ds_1' } });
    expect(datasetOnly.success).toBe(false);
    expect(JSON.stringify(datasetOnly.error?.issues)).toContain('dataset_id alone is not enough');
    expect(InvocationInput.safeParse({ topics: { names: ['/imu'] } }).success).toBe(true);
    expect(InvocationInput.safeParse({ topics: { paths: ['x'] } }).success).toBe(false);
  });
});
