import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createAccount, startRun, waitForRun, type TestAccount } from './helpers/api';
import { createFixtureRepo, runEvents, type FixtureRepo } from './helpers/git-repos';
import { startStack, type TestStack } from './helpers/stack';

/**
 * Audit item: RUNWAY_SETUP_NETWORK=true used --share-net, so a setup command could reach the
 * platform's own services on 127.0.0.1 (PostgreSQL, Temporal, the API) and metadata addresses.
 * Networked setup now has its own namespace (slirp4netns) with every non-public network unreachable.
 */
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR as string;
const tmp = path.join(WORKDIR, `sandbox-network-${process.pid}`);
const reposRoot = path.join(tmp, 'repos');

/** The host's own addresses besides loopback: reachable from the host itself, never from a sandbox. */
const hostAddresses = Object.values(os.networkInterfaces())
  .flat()
  .filter((a) => a?.family === 'IPv4' && !a.internal)
  .map((a) => a?.address as string);

let stack: TestStack;
let account: TestAccount;
let repo: FixtureRepo;
let server: Server;
let port: number;
beforeAll(async () => {
  repo = createFixtureRepo(reposRoot);
  // A platform service: listens on every host address, loopback included.
  server = createServer((socket) => socket.end('platform-service\n'));
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as { port: number }).port;
  stack = await startStack({
    env: {
      RUNWAY_LOCAL_REPOS_ROOT: reposRoot,
      RUNWAY_WORKSPACES_DIR: path.join(tmp, 'workspaces'),
      RUNWAY_WORKSPACE_MIN_FREE_MB: '1',
      RUNWAY_SETUP_NETWORK: 'true',
    },
  });
  account = await createAccount(stack, 10_000);
});
afterAll(async () => {
  await stack?.stop();
  server?.close();
});

/** Connects to each target from inside the sandbox and prints what happened; bounded by a 2 s timer. */
function probeScript(targets: string[]): string {
  return [
    `let left = ${targets.length}; const done = () => { if (--left === 0) process.exit(0); };`,
    `for (const host of ${JSON.stringify(targets)}) {`,
    `  const s = require('net').connect(${port}, host);`,
    "  s.setTimeout(2000, () => { console.log(host + ' timeout'); s.destroy(); done(); });",
    "  s.on('data', (d) => { console.log(host + ' CONNECTED ' + d.toString().trim()); s.destroy(); done(); });",
    "  s.on('error', (e) => { console.log(host + ' refused ' + e.code); done(); });",
    '}',
  ].join(' ');
}

test('a networked setup command cannot reach the host’s loopback or its own addresses, nor route to metadata or private ranges', async () => {
  const res = await startRun(stack, account, {
    prompt: 'x',
    workspace: {
      repo: repo.path,
      setup: [
        `node -e ${JSON.stringify(probeScript(['127.0.0.1', ...hostAddresses]))}`,
        // Route lookups only: no packet is sent anywhere.
        'for a in 169.254.169.254 10.1.2.3 172.17.0.1 192.168.1.1 100.100.100.200; do ip route get $a 2>&1 | head -1; done',
        'ip route show default',
      ],
    },
  });
  const run = await waitForRun(stack, account, res.body.id, (r) => ['succeeded', 'failed'].includes(r.status) && r.step === 'done');
  expect(run.error).toBeNull();
  expect(run.status).toBe('succeeded');
  const lines = (await runEvents(stack.db, run.id, 'log')).map((e) => String(e.data.line));
  const output = lines.join('\n');
  expect(output).not.toContain('CONNECTED');
  expect(output).not.toContain('platform-service');
  for (const host of ['127.0.0.1', ...hostAddresses]) expect(output).toMatch(new RegExp(`^${host.replaceAll('.', '\\.')} (refused|timeout)`, 'm'));
  expect(lines.filter((l) => /unreachable|No route to host/.test(l))).toHaveLength(5);
  expect(output).toMatch(/^default via \S+ dev tap0/m); // the network is there, only not to those places
});
