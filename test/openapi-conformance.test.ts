import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createAccount } from './helpers/api';
import { ensureSchemathesis } from './helpers/schemathesis';
import { startStack, type TestStack } from './helpers/stack';

/**
 * The OpenAPI document tells the truth: schemathesis (PyPI) fuzzes every operation with an
 * account's key and checks that each response is documented (status code, content type, schema)
 * and that nothing is a server error. Bounded: a fixed seed and a few examples per operation.
 * Event streams are left out (a stream of a live run does not end on its own).
 */
const run = promisify(execFile);
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

test('schemathesis finds no undocumented response and no server error', async () => {
  const cli = await ensureSchemathesis();
  const account = await createAccount(stack, 1_000_000, { maxActiveRuns: 1000 });
  const args = [
    'run', `${stack.baseUrl}/openapi.json`,
    '--checks', 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance',
    '--header', `Authorization: Bearer ${account.apiKey}`,
    '--exclude-path-regex', '/events$',
    '--max-examples', '8',
    '--seed', '1',
    '--workers', '1',
    '--request-timeout', '10',
    '--no-color',
  ];
  const result = await run(cli, args, { timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  );
  const log = path.join(os.tmpdir(), 'runway-schemathesis.log');
  writeFileSync(log, result.out);
  if (result.code !== 0) console.log(`schemathesis failed (whole output in ${log}):\n${result.out.slice(-20_000)}`);
  expect(result.code).toBe(0);
}, 900_000);
