// Rewrites docs/openapi.json from the server's zod schemas: `npm run openapi` (runs under tsx).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';
import { OPENAPI_PATH, openApiDocument } from '../src/api/openapi.ts';

const document = await openApiDocument();
const text = await format(JSON.stringify(document), { parser: 'json' });
writeFileSync(fileURLToPath(import.meta.resolve(`../${OPENAPI_PATH}`)), text);
console.log(`wrote ${OPENAPI_PATH}`);
