// A separate process writing to a shared store, for the concurrency test:
//   store-writer.ts <store root> <dataset id> <writer name> <count>
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalDataStore } from '../../src/adapters/local/local-data-store.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';

const [root = '', datasetId = '', writer = '', countText = '0'] = process.argv.slice(2);
const store = new LocalDataStore(root);
const signal = new AbortController().signal;
for (let i = 0; i < Number(countText); i += 1) {
  const source = path.join(os.tmpdir(), `store-writer-${process.pid}-${i}`);
  await writeFile(source, `${writer} ${i}\n`);
  await store.putFiles(datasetId, [{ relativePath: `${writer}/file-${i}.txt`, sourcePath: source }], {
    writeKey: { invocationId: `iv_${writer}_${i}`, attempt: 1 },
    origination: writer,
    signal,
  });
  await rm(source);
  // Read-modify-write of the same dataset record from both processes: only a lock keeps every tag.
  await store.updateDataset(datasetId, MetadataChangeset.parse({ put_tags: [`${writer}-${i}`] }));
  await store.updateDataset(
    datasetId,
    MetadataChangeset.parse({ put_fields: { [`counts.${writer}`]: i + 1 } }),
  );
}
