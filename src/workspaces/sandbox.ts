import { spawn, type ChildProcess } from 'node:child_process';
import { lstat, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { WorkspaceError } from './errors';
import { dieWithWorker, findProgram, runProcess, tailLines, withParentDeathSignal, type Launch, type OutputStream, type ProcessOutcome } from './process';
import type { WorkspaceSettings } from './settings';

export type SandboxKind = 'bwrap' | 'none';

export interface SandboxStatus {
  kind: SandboxKind;
  /** Why bubblewrap is not used, when it is not. */
  reason: string | null;
}

export interface SetupCommand {
  /** One user-provided shell line, run as `sh -c <line>`. */
  line: string;
  /** The run's checkout: the only host folder the command may write to, and its cwd. */
  workspace: string;
  /** HOME of the command, kept between the commands of one run. */
  home: string;
}

/** Anything tenant-controlled the platform runs: a setup line or a CLI agent. */
export interface SandboxJob {
  /** Program and arguments, looked up on the sandbox's PATH. */
  argv: string[];
  /** The only host folder the job may write besides its HOME (bound at its own path), and its cwd; null: cwd is HOME. */
  workspace: string | null;
  /** Host folder used as HOME (bound at /home/runway). */
  home: string;
  /** Variables besides PATH, HOME and LANG (which they may override). */
  env?: Record<string, string>;
  /** Outbound network through slirp4netns, never to loopback, private, link-local or the host's own networks. */
  network: boolean;
  timeoutMs: number;
  /** Host paths shown read-only at the same place (an agent's installation). */
  readOnlyPaths?: string[];
}

const SANDBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SANDBOX_HOME = '/home/runway';
/** The uid and gid commands have inside the sandbox of a root worker. */
const INNER_ID = 1000;
/** The parts of /etc programs need to run and resolve names; nothing else of the host's /etc. */
const ETC_ENTRIES = [
  'passwd', 'group', 'hosts', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'gai.conf', 'services', 'protocols',
  'ssl', 'ca-certificates', 'ca-certificates.conf', 'alternatives', 'localtime', 'timezone',
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'mime.types',
];
const ROOT_LINKS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const TMP_BYTES = 256 * 1024 * 1024;
/** The sandbox's own /dev holds only bind-mounted devices; nothing needs to write files there. */
const DEV_BYTES = 1024 * 1024;

/** What the command inside starts with: an allow-list, never the worker's own environment. */
function sandboxEnv(job: SandboxJob): Record<string, string> {
  return { PATH: SANDBOX_PATH, HOME: SANDBOX_HOME, LANG: 'C.UTF-8', ...job.env };
}

/** slirp4netns' default addresses: the sandbox, its gateway to the outside, its DNS forwarder. */
const GUEST = '10.0.2.100';
const GATEWAY = '10.0.2.2';
const DNS = '10.0.2.3';
const MTU = 65520;
/**
 * Never reachable from a networked sandbox: "this" network, private ranges, carrier-grade NAT,
 * link-local (cloud metadata at 169.254.169.254), IETF protocol assignments, benchmarking,
 * multicast and reserved space. Loopback is the sandbox's own. The host's networks are added.
 */
const BLOCKED_NETWORKS = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
];

/**
 * Runs inside the sandbox first, as its root with the capabilities bwrap was asked to keep: applies
 * the network configuration given as arguments up to `--`, then execs the rest, which drops them.
 */
const ENTRY = 'while [ "$1" != -- ]; do ip $1 || exit 125; shift; done; shift; exec "$@"';

/** Who the sandboxed commands are, on the host and inside. */
interface Identity {
  uid: number;
  gid: number;
  /** Their uid and gid inside the sandbox. */
  inner: number;
  /** The worker runs as root: the sandbox maps its commands to an unprivileged uid of their own. */
  root: boolean;
}

/**
 * Runs tenant code (setup commands, CLI agents) inside bubblewrap: fresh user, pid, network, ipc
 * and uts namespaces, a read-only /usr and a few files of /etc, its workspace and HOME, a private
 * /tmp, /proc and /dev, no capabilities, limits (prlimit: memory, file size, open files,
 * processes, no core dumps) and a deadline; everything dies with the sandbox. Fails closed: when
 * bubblewrap cannot run here, jobs are refused unless RUNWAY_SANDBOX=none says to run them bare.
 */
export class Sandbox {
  private status?: Promise<SandboxStatus>;
  private networkProblem?: Promise<string | null>;

  constructor(
    private readonly settings: WorkspaceSettings,
    /** A folder the probe's HOME is made in, to bind from where real jobs are (the workspaces root). */
    private readonly probeDir: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** Detected once per worker: a sandboxed `true` either works here or it does not. */
  detect(): Promise<SandboxStatus> {
    this.status ??= this.probe();
    return this.status;
  }

  /** Why a job (with or without network) cannot run on this worker, or null when it can. */
  async unavailable(network: boolean): Promise<string | null> {
    if (this.settings.sandbox === 'none') return null;
    const status = await this.detect();
    if (status.kind !== 'bwrap') return `bubblewrap does not work on this worker: ${status.reason}`;
    if (!network) return null;
    this.networkProblem ??= this.probeNetwork();
    return this.networkProblem;
  }

  /** Throws when setup commands must be refused here (no working sandbox and not RUNWAY_SANDBOX=none). */
  async require(): Promise<SandboxStatus> {
    const problem = await this.unavailable(this.settings.setupNetwork);
    if (problem) {
      throw new WorkspaceError(
        'workspace_sandbox_unavailable',
        `setup: commands are refused because ${problem} (RUNWAY_SANDBOX=none runs them without a sandbox, for a trusted single-tenant worker only)`,
      );
    }
    return this.detect();
  }

  async run(
    command: SetupCommand,
    options: { signal: AbortSignal; onLine?: (stream: OutputStream, line: string) => void },
  ): Promise<ProcessOutcome> {
    await this.require();
    const { argv, ...launch } = await this.launch({
      argv: ['/bin/sh', '-c', command.line],
      workspace: command.workspace,
      home: command.home,
      network: this.settings.setupNetwork,
      timeoutMs: this.settings.setupTimeoutMs,
    });
    return runProcess(argv, {
      ...launch,
      signal: options.signal,
      timeoutMs: this.settings.setupTimeoutMs,
      maxOutputBytes: this.settings.setupMaxOutputBytes,
      onLine: options.onLine,
    });
  }

  /** How to start a job; check `unavailable` first. With RUNWAY_SANDBOX=none: limits and a scrubbed environment only. */
  async launch(job: SandboxJob): Promise<Launch> {
    if (this.settings.sandbox !== 'none') return this.sandboxed(job);
    return {
      // Without bubblewrap's --die-with-parent, setpriv + timeout end the tree if the worker dies.
      argv: dieWithWorker(this.limits(job.argv, false), job.timeoutMs),
      cwd: job.workspace ?? job.home,
      env: { PATH: SANDBOX_PATH, HOME: job.home, LANG: 'C.UTF-8', ...job.env },
    };
  }

  private async sandboxed(job: SandboxJob): Promise<Launch> {
    const bwrap = findProgram('bwrap');
    if (!bwrap) throw new Error('bwrap is not installed');
    const id = identity(this.settings);
    if (id.root) {
      await ownBy(job.home, id);
      if (job.workspace) await ownBy(job.workspace, id);
    }
    const network = job.network ? startNetwork() : null;
    const seconds = String(Math.ceil(job.timeoutMs / 1000) + 1);
    const inner = [
      '/bin/sh', '-c', ENTRY, 'runway-sandbox', ...(network?.commands ?? []), '--',
      ...dropPrivileges(id),
      // A deadline of its own inside, should the worker's timer never fire.
      'timeout', '-s', 'KILL', seconds,
      ...this.limits(job.argv, true),
    ];
    return {
      // bwrap's --die-with-parent covers the sandbox when bwrap dies, not bwrap when the worker does.
      argv: withParentDeathSignal([bwrap, ...(await this.bwrapArgs(job, id)), '--', ...inner], 'KILL'),
      cwd: '/',
      env: sandboxEnv(job),
      pipes: network ? 4 : 2,
      start: (pipes) => handshake(pipes, id, network),
      finish: () => network?.stop(),
    };
  }

  /**
   * prlimit caps memory (data segment: an address-space cap would break V8 and WebAssembly), file
   * size, open files, core dumps and, in a sandbox, processes: there RLIMIT_NPROC counts the
   * sandbox's own processes (those of its uid in its user namespace), outside it would count
   * every process of the worker's user.
   */
  private limits(argv: string[], withProcessLimit: boolean): string[] {
    const mb = 1024 * 1024;
    return [
      'prlimit',
      `--data=${this.settings.setupMemoryMb * mb}`,
      `--fsize=${this.settings.setupMaxFileMb * mb}`,
      '--nofile=4096',
      '--core=0',
      ...(withProcessLimit ? [`--nproc=${this.settings.setupMaxProcesses}`] : []),
      '--',
      ...argv,
    ];
  }

  private async bwrapArgs(job: SandboxJob, id: Identity): Promise<string[]> {
    const caps = ['CAP_SETPCAP', ...(job.network ? ['CAP_NET_ADMIN'] : []), ...(id.root ? ['CAP_SETUID', 'CAP_SETGID'] : [])];
    const args = [
      '--unshare-all',
      '--unshare-user', '--uid', String(id.inner), '--gid', String(id.inner),
      ...caps.flatMap((cap) => ['--cap-add', cap]), // for ENTRY only: setpriv drops them before the command starts
      '--die-with-parent', // everything inside dies with bwrap
      '--new-session',
      '--hostname', 'runway-sandbox',
      // fd 3: bwrap reports its child's pid; fd 4: the child waits for its uid map; fd 5: for the network.
      '--info-fd', '3', '--userns-block-fd', '4', ...(job.network ? ['--block-fd', '5'] : []),
      '--ro-bind', '/usr', '/usr',
    ];
    for (const link of ROOT_LINKS) {
      const info = await lstat(link).catch(() => null);
      if (info?.isSymbolicLink()) args.push('--symlink', await readlink(link), link);
      else if (info?.isDirectory()) args.push('--ro-bind', link, link);
    }
    args.push('--perms', '0755', '--dir', '/etc');
    for (const entry of ETC_ENTRIES) {
      if (job.network && entry === 'resolv.conf') args.push('--perms', '0644', '--ro-bind-data', '6', '/etc/resolv.conf');
      else args.push('--ro-bind-try', `/etc/${entry}`, `/etc/${entry}`);
    }
    // Not --dev: devpts would need a second user namespace, out of reach of the network setup.
    args.push('--perms', '0755', '--size', String(DEV_BYTES), '--tmpfs', '/dev');
    for (const device of DEVICES) args.push('--dev-bind', `/dev/${device}`, `/dev/${device}`);
    args.push('--symlink', '/proc/self/fd', '/dev/fd', '--perms', '1777', '--size', String(TMP_BYTES), '--tmpfs', '/dev/shm');
    args.push(
      '--proc', '/proc',
      '--perms', '1777', '--size', String(TMP_BYTES), '--tmpfs', '/tmp',
      '--perms', '0755', '--dir', '/home',
      '--bind', job.home, SANDBOX_HOME,
    );
    for (const shown of job.readOnlyPaths ?? []) args.push(...parentDirs(shown), '--ro-bind', shown, shown);
    if (job.workspace) args.push(...parentDirs(job.workspace), '--bind', job.workspace, job.workspace);
    // The environment is bwrap's own (see `sandboxEnv`), never --setenv: arguments are visible
    // to every user of the host in `ps`, and a run's key or an agent's may be among them.
    args.push('--chdir', job.workspace ?? SANDBOX_HOME);
    return args;
  }

  private async probe(): Promise<SandboxStatus> {
    if (this.settings.sandbox === 'none') return { kind: 'none', reason: 'disabled by RUNWAY_SANDBOX=none' };
    const reason = await this.tryJob(false);
    if (reason === null) return { kind: 'bwrap', reason: null };
    this.warn(`bubblewrap does not work on this worker, so setup commands and CLI agents are refused: ${reason}`);
    return { kind: 'none', reason };
  }

  private async probeNetwork(): Promise<string | null> {
    if (!findProgram('slirp4netns')) return 'networked sandboxes need slirp4netns, which is not installed (Debian package "slirp4netns")';
    const reason = await this.tryJob(true);
    if (reason) this.warn(`networked sandboxes do not work on this worker: ${reason}`);
    return reason === null ? null : `networked sandboxes do not work on this worker: ${reason}`;
  }

  /** Runs `true` the way real jobs run; null when it worked, else why not. */
  private async tryJob(network: boolean): Promise<string | null> {
    if (!findProgram('bwrap')) return 'bwrap is not installed; install the "bubblewrap" package';
    const parent = (await lstat(this.probeDir).catch(() => null))?.isDirectory() ? this.probeDir : os.tmpdir();
    const home = await mkdtemp(path.join(parent, '.sandbox-probe-'));
    try {
      const { argv, ...launch } = await this.sandboxed({ argv: ['true'], workspace: null, home, network, timeoutMs: 10_000 });
      const out = await runProcess(argv, { ...launch, timeoutMs: 10_000 });
      if (out.exitCode === 0) return null;
      const why = out.spawnError?.message ?? out.killed ?? `exit code ${out.exitCode}`;
      return `${why}${out.tail ? `: ${tailLines(out.tail, 3)}` : ''}`;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }
}


/**
 * A root worker runs commands as uid 1000 inside, RUNWAY_SANDBOX_UID outside. Any other worker can
 * map one uid only, its own, and maps it to the sandbox's root: a root without any capability
 * (bounding set empty, SECBIT_NOROOT), which slirp4netns' own sandbox needs to exist.
 */
function identity(settings: WorkspaceSettings): Identity {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return { uid: settings.sandboxUid, gid: settings.sandboxUid, inner: INNER_ID, root: true };
  return { uid, gid: process.getgid?.() ?? uid, inner: 0, root: false };
}

/**
 * What ENTRY execs once the network is up: the sandbox's root becomes the command's uid (root
 * workers), or stays the only uid there is but can never hold a capability again (others).
 */
function dropPrivileges(id: Identity): string[] {
  const identityChange = id.root ? [`--reuid=${id.inner}`, `--regid=${id.inner}`, '--clear-groups'] : ['--securebits=+noroot,+noroot_locked'];
  return ['setpriv', ...identityChange, '--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all', '--'];
}

/**
 * Hands a folder the worker (root) made to the sandbox uid. chown -R changes a folder after its
 * contents, so an owner already right at the top means a complete earlier pass.
 */
async function ownBy(dir: string, id: Identity): Promise<void> {
  const info = await lstat(dir);
  if (info.uid === id.uid && info.gid === id.gid) return;
  const out = await runProcess(['chown', '-R', '-h', `${id.uid}:${id.gid}`, '--', dir], { cwd: '/', env: { PATH: SANDBOX_PATH }, timeoutMs: 120_000 });
  if (out.exitCode !== 0) throw new Error(`cannot hand ${dir} to the sandbox user: ${tailLines(out.tail, 3)}`);
}

/** `--dir` for each missing ancestor of a bind target, world-traversable (bwrap makes them 0700). */
function parentDirs(target: string): string[] {
  const dirs: string[] = [];
  for (let dir = path.dirname(target); dir !== '/' && !['/tmp', '/home', '/usr'].includes(dir); dir = path.dirname(dir)) {
    dirs.unshift('--perms', '0755', '--dir', dir);
  }
  return dirs;
}

/**
 * bwrap's side of the start: it tells its child's pid (fd 3), waits for the uid and gid maps
 * (fd 4) and, when networked, for slirp4netns to attach to its network namespace (fd 5).
 */
async function handshake(pipes: (Readable & Writable)[], id: Identity, network: SandboxNetwork | null): Promise<void> {
  const [info, userns, block, resolv] = pipes;
  if (!info || !userns) throw new Error('the sandbox pipes are missing');
  resolv?.end(`nameserver ${DNS}\n`);
  const pid = await childPid(info);
  await writeIdMaps(pid, id);
  userns.end('1');
  if (network && block) {
    await network.attach(pid);
    block.end('1');
  }
}

function childPid(info: Readable): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    info.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const pid = /"child-pid":\s*(\d+)/.exec(text)?.[1];
      if (pid) resolve(Number(pid));
    });
    info.once('close', () => reject(new Error('bubblewrap ended before it started the sandbox')));
  });
}

/**
 * The uid map of the sandbox's user namespace. Root workers map inner root to host root, so that
 * bwrap (which sets the sandbox up as inner root) can reach bind sources under root-only folders,
 * and inner uid 1000 to the unprivileged sandbox uid, which the command becomes (setpriv): it
 * never runs as host root, and RLIMIT_NPROC, ignored for host root, applies.
 */
async function writeIdMaps(pid: number, id: Identity): Promise<void> {
  const proc = `/proc/${pid}`;
  if (id.root) {
    await writeFile(`${proc}/uid_map`, `0 0 1\n${id.inner} ${id.uid} 1\n`);
    await writeFile(`${proc}/gid_map`, `0 0 1\n${id.inner} ${id.gid} 1\n`);
    return;
  }
  await writeFile(`${proc}/uid_map`, `${id.inner} ${id.uid} 1\n`);
  await writeFile(`${proc}/setgroups`, 'deny');
  await writeFile(`${proc}/gid_map`, `${id.inner} ${id.gid} 1\n`);
}

interface SandboxNetwork {
  /** `ip` commands ENTRY applies inside: every blocked route first, then the way out. */
  commands: string[];
  attach(pid: number): Promise<void>;
  stop(): void;
}

/**
 * Outbound network of one sandbox: slirp4netns gives its namespace a tap device NATed through
 * the worker's sockets, without the host-loopback alias (--disable-host-loopback) and itself
 * confined (--enable-sandbox, --enable-seccomp). Routes inside make every blocked network,
 * slirp's gateway included, unreachable: only public addresses and slirp's DNS forwarder remain.
 */
function startNetwork(): SandboxNetwork {
  const slirpPath = findProgram('slirp4netns');
  if (!slirpPath) throw new Error('slirp4netns is not installed');
  let slirp: ChildProcess | undefined;
  const commands = [
    ...blockedNetworks().map((net) => `route add unreachable ${net}`),
    `link set tap0 mtu ${MTU} up`,
    `addr add ${GUEST}/32 dev tap0`,
    `route add ${DNS}/32 dev tap0`,
    `route add default via ${GATEWAY} dev tap0 onlink`,
  ];
  return {
    commands,
    attach: (pid) =>
      new Promise((resolve, reject) => {
        const argv = withParentDeathSignal([slirpPath, `--mtu=${MTU}`, '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp', '--ready-fd=3', '--exit-fd=4', String(pid), 'tap0'], 'KILL');
        const [file, ...args] = argv as [string, ...string[]];
        // fd 3: slirp says the tap device is there; fd 4: slirp exits when the worker closes it (or dies).
        slirp = spawn(file, args, { env: { PATH: SANDBOX_PATH }, stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
        let stderr = '';
        slirp.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
        slirp.stdio[3]?.once('data', () => resolve());
        slirp.once('error', (err) => reject(err));
        slirp.once('exit', (code) => reject(new Error(`slirp4netns exited (${code}): ${tailLines(stderr, 3)}`)));
      }),
    stop: () => {
      slirp?.kill('SIGKILL');
    },
  };
}

/** BLOCKED_NETWORKS plus the networks of the host's own interfaces (its neighbours, its public address). */
function blockedNetworks(): string[] {
  const own = Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfoIPv4 => a?.family === 'IPv4' && !a.internal)
    .map((a) => networkOf(a.cidr ?? `${a.address}/32`));
  return [...new Set([...BLOCKED_NETWORKS, ...own])];
}

/** `192.0.2.7/24` → `192.0.2.0/24` (ip refuses a prefix with host bits set). */
function networkOf(cidr: string): string {
  const [address = '', bits = '32'] = cidr.split('/');
  const prefix = Number(bits);
  const value = address.split('.').reduce((acc, octet) => (acc << 8) + Number(octet), 0) >>> 0;
  const masked = prefix === 0 ? 0 : (value & (~0 << (32 - prefix))) >>> 0;
  return `${[24, 16, 8, 0].map((shift) => (masked >>> shift) & 255).join('.')}/${prefix}`;
}
