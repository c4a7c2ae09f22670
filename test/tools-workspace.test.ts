import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { TOOL_RESULT_MAX_BYTES, TRUNCATION_MARKER, WORKSPACE_TOOL_NAMES } from '../src/tools/types';
import { occurrences } from '../src/tools/workspace-tool-output';
import { WorkspaceTools, workspaceToolSpecs } from '../src/tools/workspace-tools';
import { Sandbox } from '../src/workspaces/sandbox';
import type { WorkspaceSettings } from '../src/workspaces/settings';

/**
 * The built-in workspace tools against a real bubblewrap sandbox: each tool on a temporary
 * workspace, confinement (paths, symbolic links, option-like values, NUL), bounded output, stop,
 * timeout, a scrubbed environment, and refusal when the sandbox does not work here.
 */
const WORKDIR = process.env.RUNWAY_TEST_WORKDIR ?? os.tmpdir();
const tmp = path.join(WORKDIR, `tools-workspace-${process.pid}`);
const settings: WorkspaceSettings = loadConfig({}).workspaces;
const ADMIN_SECRET = `admin-secret-${process.pid}-7b3e9c`;

interface Space {
  workspace: string;
  home: string;
}

/** A fresh workspace with `files` (made before the first call, which hands the folder to the sandbox user). */
function makeSpace(files: Record<string, string> = {}): Space {
  mkdirSync(tmp, { recursive: true });
  const root = mkdtempSync(path.join(tmp, 'space-'));
  const workspace = path.join(root, 'ws');
  const home = path.join(root, 'home');
  mkdirSync(home, { recursive: true });
  mkdirSync(workspace, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(workspace, name)), { recursive: true });
    writeFileSync(path.join(workspace, name), content);
  }
  return { workspace, home };
}

const ctxOf = (space: Space, signal = new AbortController().signal) => ({ ...space, signal });

let sandbox: Sandbox;
let tools: WorkspaceTools;
beforeAll(async () => {
  sandbox = new Sandbox(settings, WORKDIR, () => undefined);
  // These tests are about the real sandbox: bubblewrap must work on the machine that runs them.
  expect(await sandbox.detect()).toEqual({ kind: 'bwrap', reason: null });
  tools = new WorkspaceTools(sandbox);
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const call = (space: Space, name: string, args: unknown, t = tools) => t.execute(name, JSON.stringify(args), ctxOf(space));

describe('workspace tools in the sandbox', () => {
  test('specs name every tool with a JSON Schema object of arguments', () => {
    const specs = workspaceToolSpecs(WORKSPACE_TOOL_NAMES);
    expect(specs.map((s) => s.name)).toEqual([...WORKSPACE_TOOL_NAMES]);
    for (const spec of specs) {
      expect(spec.description.length).toBeGreaterThan(20);
      expect(spec.parameters).toMatchObject({ type: 'object', properties: expect.any(Object) });
    }
    expect(workspaceToolSpecs(['run_command', 'run_command']).map((s) => s.name)).toEqual(['run_command']);
  });

  test('a command longer in bytes than the kernel takes is an error result, never a failed step', async () => {
    const space = makeSpace({});
    // 44,000 three-byte characters: under the character limit, over the kernel's 128 KiB per argument.
    const outcome = await call(space, 'run_command', { command: `echo ${'€'.repeat(44_000)}` });
    expect(outcome.error).toMatch(/at most 65536 bytes/);
  });

  test('read_file returns numbered lines, from an offset, up to a limit', async () => {
    const space = makeSpace({ 'a.txt': 'one\ntwo\nthree\n', 'empty.txt': '' });
    const all = await call(space, 'read_file', { path: 'a.txt' });
    expect(all).toMatchObject({ result: '     1\tone\n     2\ttwo\n     3\tthree', truncated: false });
    expect(all.error).toBeUndefined();
    expect(all.sandboxMs).toBeGreaterThan(0);
    const part = await call(space, 'read_file', { path: './a.txt', offset: 2, limit: 1 });
    expect(part.result).toBe('     2\ttwo\n(more lines follow: read on with offset 3)');
    expect((await call(space, 'read_file', { path: 'a.txt', offset: 9 })).result).toBe('(a.txt has fewer than 9 lines)');
    expect((await call(space, 'read_file', { path: 'empty.txt' })).result).toBe('(empty.txt is empty)');
    expect((await call(space, 'read_file', { path: 'missing.txt' })).error).toBe('missing.txt does not exist');
    expect((await call(space, 'read_file', { path: '.' })).error).toBe('. is a directory');
    writeFileSync(path.join(space.workspace, 'bin.dat'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 1]));
    expect((await call(space, 'read_file', { path: 'bin.dat' })).error).toBe('bin.dat is a binary file');
  });

  test('write_file creates folders and files, and overwrites', async () => {
    const space = makeSpace({ 'old.txt': 'old' });
    const out = await call(space, 'write_file', { path: 'sub/dir/new.txt', content: 'héllo\n' });
    expect(out).toMatchObject({ result: 'wrote 7 bytes to sub/dir/new.txt', truncated: false });
    expect(out.error).toBeUndefined();
    expect(readFileSync(path.join(space.workspace, 'sub/dir/new.txt'), 'utf8')).toBe('héllo\n');
    await call(space, 'write_file', { path: 'old.txt', content: 'new' });
    expect(readFileSync(path.join(space.workspace, 'old.txt'), 'utf8')).toBe('new');
  });

  test('edit_file replaces exactly one occurrence, and refuses none or several', async () => {
    const space = makeSpace({ 'code.ts': 'const a = 1;\nconst b = 2;\nconst b2 = 2;\n' });
    const file = path.join(space.workspace, 'code.ts');
    const ok = await call(space, 'edit_file', { path: 'code.ts', old_string: 'a = 1', new_string: 'a = 10' });
    expect(ok).toMatchObject({ result: 'replaced 1 occurrence in code.ts at line 1', truncated: false });
    expect(ok.error).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe('const a = 10;\nconst b = 2;\nconst b2 = 2;\n');

    const none = await call(space, 'edit_file', { path: 'code.ts', old_string: 'const c', new_string: 'x' });
    expect(none.error).toBe('old_string was not found in code.ts');
    const two = await call(space, 'edit_file', { path: 'code.ts', old_string: ' = 2;', new_string: ' = 3;' });
    expect(two.error).toMatch(/^old_string occurs 2 times in code\.ts; it must occur exactly once/);
    expect(readFileSync(file, 'utf8')).toBe('const a = 10;\nconst b = 2;\nconst b2 = 2;\n'); // unchanged
    writeFileSync(path.join(space.workspace, 'latin1.txt'), Buffer.from([0x63, 0x61, 0x66, 0xe9])); // "café" in Latin-1
    expect((await call(space, 'edit_file', { path: 'latin1.txt', old_string: 'caf', new_string: 'x' })).error).toBe('latin1.txt is not UTF-8 text; use run_command');
    writeFileSync(path.join(space.workspace, 'big.txt'), 'x'.repeat(2 * 1024 * 1024));
    expect((await call(space, 'edit_file', { path: 'big.txt', old_string: 'x', new_string: 'y' })).error).toMatch(/^big\.txt is larger than the 1048576 bytes/);
    const empty = await call(space, 'edit_file', { path: 'code.ts', old_string: '', new_string: 'x' });
    expect(empty.error).toContain('old_string must not be empty');
  });

  test('occurrences counts overlapping matches in linear time', () => {
    expect(occurrences('aaa', 'aa')).toEqual({ count: 2, positions: [0] });
    expect(occurrences('abcabc', 'c')).toEqual({ count: 2, positions: [2] });
    const started = Date.now();
    expect(occurrences('a'.repeat(1_000_000), `${'a'.repeat(500_000)}b`).count).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  test('list_files lists the tree recursively, without .git', async () => {
    const space = makeSpace({ 'a.txt': 'a', 'sub/b.txt': 'b', '.git/config': 'x', 'sub/.git/HEAD': 'y', '.env': 'z' });
    const out = await call(space, 'list_files', {});
    expect(out.error).toBeUndefined();
    expect(out.result.split('\n')).toEqual(['.env', 'a.txt', 'sub/', 'sub/b.txt']);
    expect((await call(space, 'list_files', { path: 'sub' })).result).toBe('sub/b.txt');
    expect((await call(space, 'list_files', { path: 'a.txt' })).error).toBe('a.txt is not a directory');
  });

  test('list_files and search bound their results', async () => {
    const files = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`f${i}.txt`, 'needle\n'.repeat(5)]));
    const space = makeSpace(files);
    const small = new WorkspaceTools(sandbox, { maxListEntries: 10, maxSearchMatches: 7 });
    const listed = await call(space, 'list_files', {}, small);
    expect(listed.result.split('\n')).toHaveLength(11);
    expect(listed.result).toMatch(/more than 10 entries/);
    const found = await call(space, 'search', { pattern: 'needle' }, small);
    expect(found.result.split('\n')).toHaveLength(8);
    expect(found.result).toMatch(/more than 7 matching lines/);
  });

  test('search finds literal strings or regular expressions, skipping .git', async () => {
    const space = makeSpace({ 'a.txt': 'hay\nneedle here\n', 'sub/b.md': 'a.b needle\n', '.git/x': 'needle\n', 'bin.dat': 'needle\0\x01' });
    const literal = await call(space, 'search', { pattern: 'needle' });
    expect(literal.error).toBeUndefined();
    expect(literal.result.split('\n').sort()).toEqual(['a.txt:2:needle here', 'sub/b.md:1:a.b needle']);
    expect((await call(space, 'search', { pattern: 'a.b' })).result).toBe('sub/b.md:1:a.b needle');
    expect((await call(space, 'search', { pattern: '^ne+dle', regex: true })).result).toBe('a.txt:2:needle here');
    expect((await call(space, 'search', { pattern: 'needle', path: 'sub' })).result).toBe('sub/b.md:1:a.b needle');
    expect((await call(space, 'search', { pattern: 'absent' })).result).toBe('(no matches)');
    expect((await call(space, 'search', { pattern: 'a(', regex: true })).error).toMatch(/^search failed: .*(Unmatched|parenthes)/);
  });

  test('FIFOs neither block reading nor searching', async () => {
    const space = makeSpace({ 'a.txt': 'needle\n' });
    execFileSync('mkfifo', [path.join(space.workspace, 'pipe')]);
    expect((await call(space, 'read_file', { path: 'pipe' })).error).toBe('pipe is not a regular file');
    expect((await call(space, 'edit_file', { path: 'pipe', old_string: 'a', new_string: 'b' })).error).toBe('pipe is not a regular file');
    expect((await call(space, 'write_file', { path: 'pipe', content: 'x' })).error).toBe('pipe exists and is not a regular file');
    expect((await call(space, 'search', { pattern: 'needle' })).result).toBe('a.txt:1:needle');
  });

  test('run_command runs sh -c in the workspace; a non-zero exit is an error with the output', async () => {
    const space = makeSpace({ 'x.txt': 'x' });
    const out = await call(space, 'run_command', { command: 'echo out; echo err >&2; pwd; ls' });
    expect(out.error).toBeUndefined();
    expect(out.result).toBe(`out\nerr\n${space.workspace}\nx.txt\n`);
    expect(out.sandboxMs).toBeGreaterThan(0);
    const failed = await call(space, 'run_command', { command: 'echo failing; exit 3' });
    expect(failed).toMatchObject({ result: 'failing\n', error: 'exit code 3', truncated: false });
    expect((await call(space, 'run_command', { command: 'true' })).result).toBe('(no output)');
  });

  test('run_command has no network', async () => {
    const space = makeSpace();
    const out = await call(space, 'run_command', { command: 'cat /sys/class/net/*/address 2>/dev/null; ls /sys/class/net 2>/dev/null || true; getent hosts example.com || echo no-dns' });
    expect(out.result).toContain('no-dns');
    expect(out.result).not.toMatch(/eth|ens|wl/);
  });

  test('paths outside the workspace are refused: .., absolute, symbolic links', async () => {
    const outside = path.join(tmp, `outside-${Date.now()}`);
    mkdirSync(outside, { recursive: true });
    writeFileSync(path.join(outside, 'secret.txt'), 'outside-secret');
    chmodSync(outside, 0o777);
    const space = makeSpace({ 'in.txt': 'in' });
    symlinkSync('/etc/passwd', path.join(space.workspace, 'passwd-link'));
    symlinkSync(outside, path.join(space.workspace, 'out-dir'));
    symlinkSync('in.txt', path.join(space.workspace, 'in-link'));

    for (const p of ['../x', 'a/../../x', '..']) {
      expect((await call(space, 'read_file', { path: p })).error).toContain('must stay inside the workspace');
    }
    expect((await call(space, 'read_file', { path: '/etc/passwd' })).error).toContain('absolute paths are refused');
    expect((await call(space, 'read_file', { path: 'passwd-link' })).error).toBe('passwd-link resolves outside the workspace (through a symbolic link)');
    expect((await call(space, 'read_file', { path: 'out-dir/secret.txt' })).error).toContain('resolves outside the workspace');
    expect((await call(space, 'write_file', { path: 'out-dir/new.txt', content: 'x' })).error).toContain('resolves outside the workspace');
    expect((await call(space, 'write_file', { path: 'passwd-link', content: 'x' })).error).toContain('resolves outside the workspace');
    expect((await call(space, 'edit_file', { path: 'out-dir/secret.txt', old_string: 'outside', new_string: 'x' })).error).toContain('resolves outside');
    expect((await call(space, 'list_files', { path: 'out-dir' })).error).toContain('resolves outside the workspace');
    expect((await call(space, 'search', { pattern: 'secret', path: 'out-dir' })).error).toContain('resolves outside the workspace');
    // Links are not followed while walking the tree either.
    expect((await call(space, 'search', { pattern: 'outside-secret' })).result).toBe('(no matches)');
    expect(existsSync(path.join(outside, 'new.txt'))).toBe(false);
    expect(readFileSync(path.join(outside, 'secret.txt'), 'utf8')).toBe('outside-secret');
    // A link that stays inside is fine.
    expect((await call(space, 'read_file', { path: 'in-link' })).result).toBe('     1\tin');
  });

  test('option-like paths and patterns are names, never options', async () => {
    const space = makeSpace({ 'keep.txt': 'keep' });
    expect((await call(space, 'write_file', { path: '-rf', content: 'dash -rf\n' })).error).toBeUndefined();
    expect(readFileSync(path.join(space.workspace, '-rf'), 'utf8')).toBe('dash -rf\n');
    expect((await call(space, 'read_file', { path: '-rf' })).result).toBe('     1\tdash -rf');
    expect((await call(space, 'list_files', { path: '--help' })).error).toBe('--help does not exist');
    expect((await call(space, 'search', { pattern: '-rf' })).result).toBe('-rf:1:dash -rf');
    expect((await call(space, 'search', { pattern: '--version', path: '-rf' })).result).toBe('(no matches)');
    expect((await call(space, 'edit_file', { path: '-rf', old_string: '-rf', new_string: '--force' })).error).toBeUndefined();
    expect(readFileSync(path.join(space.workspace, '-rf'), 'utf8')).toBe('dash --force\n');
    expect(existsSync(path.join(space.workspace, 'keep.txt'))).toBe(true);
  });

  test('NUL bytes, lone surrogates, control characters, huge and malformed arguments are refused', async () => {
    const space = makeSpace({ 'a.txt': 'a' });
    expect((await call(space, 'read_file', { path: 'a\0.txt' })).error).toContain('NUL byte');
    expect((await call(space, 'write_file', { path: 'b.txt', content: 'x\0y' })).error).toContain('NUL byte');
    expect((await call(space, 'write_file', { path: 'b\uD800.txt', content: 'x' })).error).toContain('lone UTF-16 surrogate');
    expect((await call(space, 'search', { pattern: 'x\uDC00' })).error).toContain('lone UTF-16 surrogate');
    expect((await call(space, 'read_file', { path: 'a\n.txt' })).error).toContain('control characters');
    expect((await call(space, 'read_file', { path: 'x'.repeat(5000) })).error).toContain('longer than 4096');
    expect((await call(space, 'search', { pattern: 'a\nb' })).error).toContain('single line');
    expect((await call(space, 'read_file', { path: 'a.txt', offset: 0 })).error).toMatch(/^invalid arguments: offset/);
    expect((await call(space, 'read_file', {})).error).toMatch(/^invalid arguments: path/);
    expect((await tools.execute('read_file', '{"path":', ctxOf(space))).error).toBe('the arguments are not valid JSON');
    expect((await tools.execute('nope', '{}', ctxOf(space))).error).toBe('unknown tool "nope"');
    const small = new WorkspaceTools(sandbox, { maxArgumentsChars: 100, maxWriteBytes: 10 });
    expect((await call(space, 'write_file', { path: 'b.txt', content: 'x'.repeat(200) }, small)).error).toContain('longer than 100 characters');
    expect((await call(space, 'write_file', { path: 'b.txt', content: 'é'.repeat(6) }, small)).error).toContain('12 bytes');
    expect(existsSync(path.join(space.workspace, 'b.txt'))).toBe(false);
  });

  test('huge output is cut with the marker', async () => {
    const space = makeSpace({ 'big.txt': 'line of text\n'.repeat(10_000) });
    const out = await call(space, 'run_command', { command: "head -c 1000000 /dev/zero | tr '\\0' a" });
    expect(out.error).toBeUndefined();
    expect(out.truncated).toBe(true);
    expect(out.result.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(Buffer.byteLength(out.result)).toBeLessThanOrEqual(TOOL_RESULT_MAX_BYTES);
    const read = await call(space, 'read_file', { path: 'big.txt' });
    expect(read.truncated).toBe(true);
    expect(read.result.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(Buffer.byteLength(read.result)).toBeLessThanOrEqual(TOOL_RESULT_MAX_BYTES);
    expect(read.result.startsWith('     1\tline of text\n     2\tline of text\n')).toBe(true);
    // More output than the command limit kills it, as setup commands are killed.
    const capped = new WorkspaceTools(sandbox, { maxCommandOutputBytes: 100_000 });
    const flood = await call(space, 'run_command', { command: 'yes' }, capped);
    expect(flood.error).toBe('wrote more than 100000 bytes of output and was killed');
    expect(flood.truncated).toBe(true);
  });

  test('a stop kills the command at once: the call rejects within 1 s and the process is gone', async () => {
    const space = makeSpace();
    const token = `${4000 + (process.pid % 1000)}.${Date.now() % 100000}`;
    const stop = new AbortController();
    const running = tools.execute('run_command', JSON.stringify({ command: `sleep ${token}` }), ctxOf(space, stop.signal));
    const settled = running.then(
      () => 'resolved',
      () => 'rejected',
    );
    await waitFor(() => processesWith(token).length > 0, 10_000);
    const stoppedAt = Date.now();
    stop.abort(new Error('run stopped'));
    expect(await settled).toBe('rejected');
    expect(Date.now() - stoppedAt).toBeLessThan(1000);
    await expect(running).rejects.toThrow('run stopped');
    await waitFor(() => processesWith(token).length === 0, 1000);
    // An already stopped run starts nothing.
    await expect(tools.execute('run_command', '{"command":"true"}', ctxOf(space, stop.signal))).rejects.toThrow('run stopped');
  });

  test('a stop during the first call of a worker (the sandbox probe) ends it at once too', async () => {
    const fresh = new WorkspaceTools(new Sandbox(settings, WORKDIR, () => undefined));
    const stop = new AbortController();
    const running = fresh.execute('list_files', '{}', ctxOf(makeSpace(), stop.signal));
    setTimeout(() => stop.abort(new Error('run stopped')), 5);
    const started = Date.now();
    await expect(running).rejects.toThrow('run stopped');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a command past its timeout is killed', async () => {
    const space = makeSpace();
    const quick = new WorkspaceTools(sandbox, { commandTimeoutMs: 1000 });
    const started = Date.now();
    const out = await call(space, 'run_command', { command: 'echo started; sleep 30' }, quick);
    expect(out).toMatchObject({ error: 'timed out after 1000 ms', result: 'started\n' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a command cannot see the worker's secrets", async () => {
    process.env.RUNWAY_ADMIN_TOKEN = ADMIN_SECRET;
    try {
      const space = makeSpace();
      const out = await call(space, 'run_command', { command: "env; tr '\\0' '\\n' < /proc/self/environ; cat /proc/1/environ 2>/dev/null" });
      expect(out.result).toContain('PATH=');
      expect(out.result).not.toContain(ADMIN_SECRET);
      expect(out.result).not.toContain('RUNWAY_ADMIN_TOKEN');
      expect(out.result).not.toContain('DATABASE_URL');
    } finally {
      delete process.env.RUNWAY_ADMIN_TOKEN;
    }
  });
});

describe('without a working sandbox', () => {
  const fakeBin = path.join(tmp, 'fake-bin');
  const realPath = process.env.PATH;
  beforeAll(() => {
    // What Docker's default seccomp profile does to bwrap: it cannot create namespaces.
    mkdirSync(fakeBin, { recursive: true });
    writeFileSync(path.join(fakeBin, 'bwrap'), '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n');
    chmodSync(path.join(fakeBin, 'bwrap'), 0o755);
    process.env.PATH = `${fakeBin}:${realPath}`;
  });
  afterAll(() => {
    process.env.PATH = realPath;
  });

  test('every tool is refused (fail closed), and nothing runs', async () => {
    const broken = new WorkspaceTools(new Sandbox({ ...settings, sandbox: 'auto' }, tmp, () => undefined));
    const space = makeSpace({ 'a.txt': 'a' });
    const calls: [string, unknown][] = [
      ['read_file', { path: 'a.txt' }],
      ['write_file', { path: 'b.txt', content: 'b' }],
      ['edit_file', { path: 'a.txt', old_string: 'a', new_string: 'c' }],
      ['list_files', {}],
      ['search', { pattern: 'a' }],
      ['run_command', { command: 'touch ran.txt' }],
    ];
    for (const [name, args] of calls) {
      const out = await call(space, name, args, broken);
      expect(out).toMatchObject({ result: '', truncated: false, sandboxMs: 0 });
      expect(out.error).toMatch(/^sandbox unavailable: .*No permissions to create new namespace.*RUNWAY_SANDBOX=none/);
    }
    expect(existsSync(path.join(space.workspace, 'b.txt'))).toBe(false);
    expect(existsSync(path.join(space.workspace, 'ran.txt'))).toBe(false);
    expect(readFileSync(path.join(space.workspace, 'a.txt'), 'utf8')).toBe('a');
  });

  test('RUNWAY_SANDBOX=none (the operator opted out) runs them, still without the worker’s secrets', async () => {
    process.env.RUNWAY_ADMIN_TOKEN = ADMIN_SECRET;
    try {
      const bare = new WorkspaceTools(new Sandbox({ ...settings, sandbox: 'none' }, tmp, () => undefined));
      const space = makeSpace({ 'a.txt': 'a' });
      const out = await call(space, 'run_command', { command: 'env; pwd' }, bare);
      expect(out.error).toBeUndefined();
      expect(out.result).toContain(space.workspace);
      expect(out.result).not.toContain(ADMIN_SECRET);
      expect((await call(space, 'edit_file', { path: 'a.txt', old_string: 'a', new_string: 'b' }, bare)).error).toBeUndefined();
      expect(readFileSync(path.join(space.workspace, 'a.txt'), 'utf8')).toBe('b');
      symlinkSync('/etc/passwd', path.join(space.workspace, 'link'));
      expect((await call(space, 'read_file', { path: 'link' }, bare)).error).toContain('resolves outside the workspace');
    } finally {
      delete process.env.RUNWAY_ADMIN_TOKEN;
    }
  });
});

/** Host processes whose command line holds `token`. */
function processesWith(token: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(token) && !line.includes('ps -eo'));
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
