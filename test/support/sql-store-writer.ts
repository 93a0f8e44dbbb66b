// A separate process writing to a shared SQLite store, for the concurrency test:
//   sql-store-writer.ts <database file> <store dir> <dataset id> <writer name> <rounds>
// Each round writes the same three paths under a write key of its own, then bumps a counter in the
// dataset's metadata (a read-modify-write).
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openSqlDataStore } from '../../src/app/local-adapters.js';
import { MetadataChangeset } from '../../src/domain/metadata-changeset.js';

const [file = '', storeDir = '', datasetId = '', writer = '', roundsText = '0'] = process.argv.slice(2);
const store = await openSqlDataStore({ dialect: 'sqlite', file }, storeDir);
const signal = new AbortController().signal;
try {
  for (let round = 0; round < Number(roundsText); round += 1) {
    const sources = ['a.txt', 'b.txt', 'c/d.txt'].map((relativePath, i) => ({
      relativePath,
      sourcePath: path.join(os.tmpdir(), `sql-store-writer-${process.pid}-${round}-${i}`),
    }));
    for (const source of sources)
      await writeFile(source.sourcePath, `${writer} ${round} ${source.relativePath}\n`);
    await store.putFiles(datasetId, sources, {
      writeKey: { invocationId: `iv_${writer}_${round}`, attempt: 1 },
      origination: writer,
      signal,
    });
    for (const source of sources) await rm(source.sourcePath);
    await store.updateDataset(
      datasetId,
      MetadataChangeset.parse({ put_fields: { [`counts.${writer}`]: round + 1 } }),
    );
  }
} finally {
  await store.close();
}
