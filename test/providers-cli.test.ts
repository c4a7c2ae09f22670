import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bearer, createAccount, expectLedgerConsistent, startRun, waitForRun } from './helpers/api';
import { startStack, type TestStack } from './helpers/stack';
import { ConfigError, loadConfig } from '../src/config';
import { CliAgentProvider } from '../src/providers/cli-agent';
import type { ModelChunk } from '../src/providers/types';
import { Sandbox } from '../src/workspaces/sandbox';
import { pidsWith } from './helpers/git-repos';

const dir = mkdtempSync(path.join(os.tmpdir(), 'runway-cli-test-'));
const file = (name: string) => path.join(dir, name);
/** Outside anything an agent is shown: it must not be able to read it. */
const outsideSecret = path.join(os.tmpdir(), `runway-cli-outside-${process.pid}.txt`);

/** Small agents, written as sh scripts; each one's behaviour is in its name. */
const SCRIPTS: Record<string, string> = {
  'slow.sh': `prompt=$(cat)
echo "working on: $prompt" >&2
for i in 1 2 3 4; do
  echo "line $i of the answer"
  sleep 0.3
done
echo "all done" >&2
`,
  'inspect.sh': `[ "$1" = -- ] && shift
echo "prompt was: $1"
echo "my key is $RUNWAY_RUN_API_KEY"
echo "cwd is $(pwd)"
env >&2
`,
  'sleeper.sh': `prompt=$(cat)
sleep "$prompt" &
while true; do echo tick; sleep 0.2; done
`,
  'failing.sh': `echo "starting" >&2
echo "something went wrong: disk full" >&2
exit 3
`,
  'slowpoke.sh': `echo thinking
sleep 30
`,
  'pwd.sh': `pwd
`,
  'snoop.sh': `cat /proc/"$1"/environ; echo "environ: $?"
echo "pids: $(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ')"
cat "$2"; echo "outside: $?"
`,
  'echo-env.sh': `echo "token: $AGENT_TOKEN mode: $MODE"
echo "token on stderr: $AGENT_TOKEN" >&2
`,
  'flood.sh': `head -c 200000 /dev/zero | tr '\\0' x
`,
  'options.sh': `while getopts rfv opt; do echo "parsed option -$opt"; done
shift $((OPTIND - 1))
echo "prompt: $1"
`,
};

/** The scripts live outside the sandbox's view: each agent is shown their folder, read-only. */
const shown = { readOnlyPaths: [dir] };
const AGENTS = {
  slow: { command: '/bin/sh', args: [file('slow.sh')], ...shown },
  inspect: { command: 'sh', args: [file('inspect.sh')], prompt: 'arg', env: { AGENT_MODE: 'test' }, ...shown },
  sleeper: { command: '/bin/sh', args: [file('sleeper.sh')], ...shown },
  failing: { command: '/bin/sh', args: [file('failing.sh')], ...shown },
  slowpoke: { command: '/bin/sh', args: [file('slowpoke.sh')], timeoutMs: 1000, ...shown },
  pwd: { command: '/bin/sh', args: [file('pwd.sh')], network: false, ...shown },
  snoop: { command: '/bin/sh', args: [file('snoop.sh'), String(process.pid), outsideSecret], ...shown },
  'echo-env': { command: '/bin/sh', args: [file('echo-env.sh')], env: { AGENT_TOKEN: 'operator-agent-token-0123456789', MODE: 'fast' }, ...shown },
  options: { command: '/bin/sh', args: [file('options.sh')], prompt: 'arg', ...shown },
  flood: { command: '/bin/sh', args: [file('flood.sh')], ...shown },
};

/** Agents are billed by size: one token per started 4 bytes of UTF-8. */
const sized = (text: string) => Math.ceil(Buffer.byteLength(text) / 4);

/** Alive and not a zombie (an orphan may wait a moment for its reaper). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

let stack: TestStack;
beforeAll(async () => {
  for (const [name, text] of Object.entries(SCRIPTS)) writeFileSync(file(name), text);
  chmodSync(dir, 0o755); // a root worker's sandbox runs as an unprivileged uid, which must read them
  writeFileSync(outsideSecret, 'operator-private-file-content');
  // Platform-looking variables in the worker's environment that an agent must never see.
  process.env.FAKE_PLATFORM_TOKEN = 'platform-token-value';
  process.env.RUNWAY_OPENAI_API_KEY = 'sk-platform-openai-key';
  stack = await startStack({ env: { RUNWAY_CLI_AGENTS: JSON.stringify(AGENTS) } });
});
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(outsideSecret, { force: true });
});

async function eventsOf(runId: string) {
  return stack.db.selectFrom('run_events').select(['type', 'data']).where('run_id', '=', runId).orderBy('id').execute();
}

describe('cli/<name> agents', () => {
  test('stdout lines stream as deltas (newlines kept), stderr lines become log events, usage is by size', async () => {
    const account = await createAccount(stack, 1000);
    const prompt = 'fix the flaky test';
    const res = await startRun(stack, account, { prompt, model: 'cli/slow', maxTokens: 100 });
    expect(res.status).toBe(202);
    expect(res.body.estimate).toBe(sized(prompt) + 100);

    const partial = await waitForRun(stack, account, res.body.id, (r) => r.output.length > 0);
    expect(partial.status).toBe('running');
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    const expected = [1, 2, 3, 4].map((i) => `line ${i} of the answer\n`).join('');
    expect(partial.output.length).toBeLessThan(expected.length);
    expect(run.output).toBe(expected);
    expect(run.usage).toEqual({ inputTokens: sized(prompt), outputTokens: sized(expected) });
    expect(run.cost.charged).toBe(sized(prompt) + sized(expected));

    const events = await eventsOf(run.id);
    expect(events.filter((e) => e.type === 'delta').length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.type === 'log').map((e) => e.data)).toEqual([
      { stream: 'stderr', line: `working on: ${prompt}` },
      { stream: 'stderr', line: 'all done' },
    ]);
    await expectLedgerConsistent(stack, account);
  });

  test('prompt as last argument, a private HOME as working folder, a scrubbed environment with only the run’s key', async () => {
    const account = await createAccount(stack, 1000);
    const key = 'sk-run-transient-key-123456';
    const prompt = 'it is "quoted"; $(rm -rf /) `and` not a shell';
    const res = await startRun(stack, account, { prompt, model: 'cli/inspect', maxTokens: 100, secrets: { apiKey: key } });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    // Passed verbatim, never through a shell; the key the agent printed is scrubbed from the output.
    expect(run.output).toBe(`prompt was: ${prompt}\nmy key is [redacted]\ncwd is /home/runway\n`);

    const lines = (await eventsOf(run.id)).filter((e) => e.type === 'log').map((e) => (e.data as { line: string }).line);
    const env = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    expect(env).toMatchObject({ RUNWAY_RUN_API_KEY: '[redacted]', AGENT_MODE: 'test', HOME: '/home/runway', PATH: expect.stringContaining('/usr/bin') });
    const shellOwn = ['PWD', 'SHLVL', '_', 'OLDPWD'];
    const allowed = ['PATH', 'HOME', 'LANG', 'RUNWAY_RUN_API_KEY', 'AGENT_MODE', ...shellOwn];
    expect(Object.keys(env).filter((name) => !allowed.includes(name))).toEqual([]);
    const dump = lines.join('\n');
    for (const secret of ['platform-token-value', 'sk-platform-openai-key', process.env.DATABASE_URL ?? 'postgres://', key]) {
      expect(dump).not.toContain(secret);
    }
  });

  test('an agent cannot read the worker’s environment, its processes, or files outside what it is shown', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'look around', model: 'cli/snoop', maxTokens: 200 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toMatch(/environ: [1-9]/);
    expect(run.output).toMatch(/outside: [1-9]/);
    expect(run.output).not.toContain('operator-private-file-content');
    const pids = /pids: (.*)/.exec(run.output)?.[1]?.trim().split(' ').map(Number) ?? [];
    expect(pids).not.toContain(process.pid);
    expect(pids.length).toBeLessThan(10); // its own sandbox's processes only
    const workerEnv = readFileSync(`/proc/${process.pid}/environ`, 'utf8').split('\0').filter((v) => v.length >= 8);
    for (const entry of workerEnv) expect(run.output).not.toContain(entry);
  });

  test('the operator’s configured env values are scrubbed from what the agent prints', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'print your env', model: 'cli/echo-env', maxTokens: 100 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('token: [redacted] mode: fast\n');
    const logs = (await eventsOf(run.id)).filter((e) => e.type === 'log').map((e) => e.data);
    expect(logs).toEqual([{ stream: 'stderr', line: 'token on stderr: [redacted]' }]);
  });

  test('200 KB without a space is billed by size, and output past the cap is neither shown nor charged', async () => {
    const account = await createAccount(stack, 1000);
    const prompt = 'y'.repeat(2000); // one "word": 500 tokens by size
    const res = await startRun(stack, account, { prompt, model: 'cli/flood', maxTokens: 10 });
    expect(res.body.estimate).toBe(500 + 10);
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.truncated).toBe(true);
    expect(run.output).toBe('x'.repeat(40)); // 10 tokens of 4 bytes
    expect(run.usage).toEqual({ inputTokens: 500, outputTokens: 10 });
    expect(run.cost).toEqual({ estimate: 510, charged: 510, refunded: 0 });
    await expectLedgerConsistent(stack, account);
  });

  test('a prompt that looks like an option arrives as the prompt', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: '-rf', model: 'cli/options', maxTokens: 100 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('succeeded');
    expect(run.output).toBe('prompt: -rf\n');
  });

  test('stop kills the whole process tree within 2 s and charges what was used', async () => {
    const account = await createAccount(stack, 1000);
    const marker = String(Math.floor(1_000_000 + Math.random() * 8_000_000));
    const res = await startRun(stack, account, { prompt: marker, model: 'cli/sleeper', maxTokens: 500 });
    await waitForRun(stack, account, res.body.id, (r) => r.output.includes('tick'));
    // The agent's shell and its background sleep, found by their command lines on the host.
    const agentPids = () => [...pidsWith(`sleep ${marker}`, 'start'), ...pidsWith(`/bin/sh ${file('sleeper.sh')}`, 'start')];
    for (const t0 = Date.now(); agentPids().length < 2 && Date.now() - t0 < 5000; ) await sleep(20);
    const pids = agentPids();
    expect(pids).toHaveLength(2);
    expect(pids.every(isAlive)).toBe(true);

    const asked = Date.now();
    expect((await stack.http.post(`/v1/runs/${res.body.id}/stop`).set(bearer(account))).status).toBe(202);
    // The agent would sleep forever: every process of it must be gone once the stop is heard.
    while (pids.some(isAlive) && Date.now() - asked < 10_000) await sleep(20);
    expect(pids.filter(isAlive)).toEqual([]);

    const run = await waitForRun(stack, account, res.body.id, undefined, 5000);
    expect(run.status).toBe('stopped');
    const ticks = run.output.split('\n').filter(Boolean).length;
    expect(run.usage.outputTokens).toBe(sized(run.output));
    expect(run.output).toBe('tick\n'.repeat(ticks));
    expect(run.cost.charged).toBe(sized(marker) + sized(run.output));
    await expectLedgerConsistent(stack, account);
  });

  test('a non-zero exit fails the run with the stderr tail, without a retry', async () => {
    const account = await createAccount(stack, 1000);
    const res = await startRun(stack, account, { prompt: 'break', model: 'cli/failing', maxTokens: 50 });
    const run = await waitForRun(stack, account, res.body.id);
    expect(run.status).toBe('failed');
    expect(run.error).toEqual({
      code: 'cli_exit',
      message: 'agent "failing" exited with code 3: starting\nsomething went wrong: disk full',
    });
    await sleep(1500); // past the first retry interval
    const starts = (await eventsOf(run.id)).filter((e) => e.type === 'log' && (e.data as { line: string }).line === 'starting');
    expect(starts).toHaveLength(1); // one attempt
    await expectLedgerConsistent(stack, account);
  });

  test('an agent past its timeout is killed and the run fails', async () => {
    const account = await createAccount(stack, 1000);
    const started = Date.now();
    const res = await startRun(stack, account, { prompt: 'take forever', model: 'cli/slowpoke', maxTokens: 50 });
    const run = await waitForRun(stack, account, res.body.id, undefined, 15_000);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'cli_timeout', message: expect.stringContaining('timed out after 1000 ms') });
    expect(run.output).toBe('thinking\n');
    expect(Date.now() - started).toBeLessThan(10_000);
    await expectLedgerConsistent(stack, account);
  });

  test('the agent runs in the run’s workspace when it has one', async () => {
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'runway-ws-'));
    const config = loadConfig({ RUNWAY_CLI_AGENTS: JSON.stringify(AGENTS) });
    const provider = new CliAgentProvider(config.cliAgents, new Sandbox(config.workspaces, os.tmpdir(), () => undefined));
    const chunks: ModelChunk[] = [];
    const call = { model: 'cli/pwd', messages: [{ role: 'user' as const, content: 'where?' }], maxOutputTokens: 10, signal: new AbortController().signal, cwd: workspace };
    for await (const chunk of provider.stream(call)) chunks.push(chunk);
    expect(chunks.filter((c) => c.type === 'delta')).toEqual([{ type: 'delta', text: `${realpathSync(workspace)}\n` }]);
    expect(existsSync(workspace)).toBe(true); // the workspace is not the agent's to remove
    rmSync(workspace, { recursive: true, force: true });
  });

  test('RUNWAY_CLI_AGENTS is validated at start-up', () => {
    expect(() => loadConfig({ RUNWAY_CLI_AGENTS: '{not json' })).toThrow(ConfigError);
    expect(() => loadConfig({ RUNWAY_CLI_AGENTS: JSON.stringify({ a: { args: [] } }) })).toThrow(/RUNWAY_CLI_AGENTS: a\.command/);
    expect(() => loadConfig({ RUNWAY_CLI_AGENTS: JSON.stringify({ a: { command: 'x', prompt: 'shell' } }) })).toThrow(/a\.prompt/);
    expect(() => loadConfig({ RUNWAY_CLI_AGENTS: JSON.stringify({ 'bad name!': { command: 'x' } }) })).toThrow(ConfigError);
    expect(() => loadConfig({ RUNWAY_CLI_AGENTS: JSON.stringify({ a: { command: 'x', readOnlyPaths: ['rel'] } }) })).toThrow(/a\.readOnlyPaths/);
    expect(loadConfig({ RUNWAY_CLI_AGENTS: JSON.stringify({ a: { command: 'x' } }) }).cliAgents).toEqual({
      a: { command: 'x', args: [], prompt: 'stdin', timeoutMs: 600_000, maxOutputBytes: 16 * 1024 * 1024, env: {}, network: true, readOnlyPaths: [] },
    });
  });
});
