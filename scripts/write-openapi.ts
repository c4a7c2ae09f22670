import { writeFileSync } from 'node:fs';
import { buildOpenApiDocument } from '../src/api/openapi';

/** Writes the API's OpenAPI document (the one GET /openapi.json serves) for the client SDK's type generation. */
const [target] = process.argv.slice(2);
if (!target) throw new Error('usage: write-openapi <file>');
writeFileSync(target, `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`);
