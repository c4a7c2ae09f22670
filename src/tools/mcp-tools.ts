import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { CallToolResultSchema, ListToolsResultSchema, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { BlockedAddress, type Resolver } from '../net/address-policy';
import { safeJson, sanitize, truncate } from '../text';
import { policyFetch } from './mcp-fetch';
import { boundText, resultText } from './mcp-result';
import { mcpSpecProblem, redactedExcerpt, redactHeaders, TOOL_NAME } from './mcp-spec';
import { WORKSPACE_TOOL_NAMES, type McpServerSpec, type McpToolSpec, type ToolOutcome } from './types';

export { mcpSpecProblem } from './mcp-spec';

export interface McpOptions {
  /** Loopback, private and metadata addresses allowed: local development only (RUNWAY_MCP_ALLOW_PRIVATE=true). */
  allowPrivate: boolean;
  /** The whole operation against one server: connecting, then listing or calling (default 60 s). */
  timeoutMs?: number;
  /** TCP/TLS connection of each request, and the MCP initialize handshake (default 10 s, at most timeoutMs). */
  connectTimeoutMs?: number;
  /** Tests only: the resolver the address policy checks (default: the system's). */
  resolve?: Resolver;
}

export interface McpListOptions extends McpOptions {
  /** Names MCP tools may not take, because the run's own tools have them (default: the workspace tools). */
  reservedNames?: readonly string[];
}

export const MCP_DEFAULT_TIMEOUT_MS = 60_000;
export const MCP_DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Tools kept of one server, and pages of tools/list read: a server cannot flood the model's context or loop. */
export const MCP_MAX_TOOLS_PER_SERVER = 128;
const MAX_LIST_PAGES = 16;
/** One HTTP response body from an MCP server: far above any tool result the model sees (TOOL_RESULT_MAX_BYTES). */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const MAX_DESCRIPTION = 2048;
/** A tool's input schema, as JSON: it is sent to the model with every turn. */
const MAX_SCHEMA_BYTES = 32 * 1024;
/**
 * What a run's listing may hold in all (it is stored with the run and sent with every turn): a
 * server offering more is cut there, with an error entry, and so is the run.
 */
const MAX_LISTING_BYTES_PER_SERVER = 256 * 1024;
const MAX_LISTING_BYTES = 1024 * 1024;
const MAX_ERROR = 500;
/** How long a client stays open after a stop or a timeout, for the cancellation to reach the server. */
const CANCEL_GRACE_MS = 500;

/** A timeout setTimeout honours: 1 ms to a day (beyond 2^31 - 1 ms it would fire at once). */
const clampMs = (ms: number): number => (Number.isFinite(ms) ? Math.min(Math.max(1, Math.floor(ms)), 86_400_000) : MCP_DEFAULT_TIMEOUT_MS);

/** Why an operation's own controller was aborted: the run's stop, or one of our deadlines. */
class Deadline extends Error {}

/**
 * One operation against one server: a fresh client and transport (so a server's state never
 * leaks between runs), connected within connectTimeoutMs, `work` within timeoutMs of the start,
 * then always closed (after a stop or a deadline, a moment later), which aborts every request of
 * the transport and so frees its sockets. Every request of the operation carries one signal,
 * aborted by the run's stop or by either deadline; what is thrown is then the abort's reason (the
 * stop's, or a Deadline), otherwise the SDK's error, for `failure` to describe.
 */
async function withServer<T>(
  spec: McpServerSpec,
  options: McpOptions,
  stop: AbortSignal | undefined,
  work: (client: Client, request: RequestOptions) => Promise<T>,
): Promise<T> {
  const timeoutMs = clampMs(options.timeoutMs ?? MCP_DEFAULT_TIMEOUT_MS);
  const connectMs = Math.min(clampMs(options.connectTimeoutMs ?? MCP_DEFAULT_CONNECT_TIMEOUT_MS), timeoutMs);
  const op = new AbortController();
  const onStop = () => op.abort(stop?.reason);
  stop?.addEventListener('abort', onStop, { once: true });
  if (stop?.aborted) onStop();
  const overall = setTimeout(() => op.abort(new Deadline(`the MCP server did not answer within ${timeoutMs} ms`)), timeoutMs);
  const connecting = setTimeout(() => op.abort(new Deadline(`the MCP server did not complete its handshake within ${connectMs} ms`)), connectMs);
  const transport = new StreamableHTTPClientTransport(new URL(spec.url), {
    fetch: policyFetch({ allowPrivate: options.allowPrivate, connectTimeoutMs: connectMs, maxResponseBytes: MAX_RESPONSE_BYTES, resolve: options.resolve }),
    requestInit: { headers: { ...(spec.headers ?? {}) } },
    // One operation, then closed: a dropped event stream is not worth reconnecting.
    reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
  });
  const client = new Client({ name: 'runway', version: '1' }, { capabilities: {} });
  // Our deadlines fire first: the SDK's own request timeout only backs them up.
  const request: RequestOptions = { signal: op.signal, timeout: timeoutMs + 1000 };
  try {
    op.signal.throwIfAborted();
    await client.connect(transport, request);
    clearTimeout(connecting);
    return await work(client, request);
  } catch (err) {
    // The SDK wraps an abort reason in its own error: the controller tells what happened.
    throw op.signal.aborted ? op.signal.reason : err;
  } finally {
    clearTimeout(overall);
    clearTimeout(connecting);
    stop?.removeEventListener('abort', onStop);
    const close = () => void client.close().catch(() => undefined);
    // After a stop or a deadline the caller hears at once, while the transport gets a moment to
    // tell the server (notifications/cancelled, which the SDK sends on abort) before closing.
    if (op.signal.aborted) setTimeout(close, CANCEL_GRACE_MS);
    else close();
  }
}

/**
 * What the model (and the run's log) is told of a failure: the address policy by name, a socket
 * error by its code and the URL's host (never the address it resolved to), an MCP error by its
 * code; never a header value; bounded and storable.
 */
function failure(err: unknown, spec: McpServerSpec): string {
  const host = hostOf(spec.url);
  let message: string;
  const blocked = findCause(err, (e) => e instanceof BlockedAddress);
  const socket = findCause(err, (e) => typeof (e as NodeJS.ErrnoException).code === 'string' && typeof (e as { address?: unknown }).address === 'string');
  if (blocked) {
    message = `refused by the MCP address policy (no loopback, private, link-local or reserved addresses): ${blocked.message}`;
  } else if (err instanceof Deadline) {
    message = err.message;
  } else if (socket) {
    message = `${(socket as NodeJS.ErrnoException).code}: connecting to ${host} failed`;
  } else if (err instanceof McpError) {
    message = err.message; // "MCP error <code>: <the server's message>"
  } else {
    const e = err as NodeJS.ErrnoException;
    message = isError(e) ? `${e.code ? `${e.code}: ` : ''}${e.message}` : String(err);
  }
  return sanitize(redactedExcerpt(message, spec, MAX_ERROR));
}

/** Whether `e` looks like an error: node's own errors may come from another realm (jest's vm), where instanceof fails. */
const isError = (e: unknown): e is Error => typeof e === 'object' && e !== null && typeof (e as Error).message === 'string';

/** `err` or the first error of its `cause` chain (a few links deep) that matches. */
function findCause(err: unknown, test: (e: Error) => boolean): Error | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && isError(e); depth++, e = e.cause) if (test(e)) return e;
  return undefined;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the MCP server';
  }
}

/**
 * The tools of one server that `allowed` lets through (all without it), following pagination, at
 * most MCP_MAX_TOOLS_PER_SERVER (a note says when more were offered).
 */
async function serverTools(client: Client, request: RequestOptions, allowed: Set<string> | undefined): Promise<{ tools: Tool[]; note?: string }> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    // A raw request rather than client.listTools(), which compiles every output schema the server sends.
    const result = await client.request({ method: 'tools/list', params: cursor === undefined ? {} : { cursor } }, ListToolsResultSchema, request);
    const kept = allowed ? result.tools.filter((t) => allowed.has(t.name)) : result.tools;
    tools.push(...kept.slice(0, MCP_MAX_TOOLS_PER_SERVER + 1 - tools.length));
    if (tools.length > MCP_MAX_TOOLS_PER_SERVER) {
      return { tools: tools.slice(0, MCP_MAX_TOOLS_PER_SERVER), note: `the server offers more than ${MCP_MAX_TOOLS_PER_SERVER} tools; the rest are ignored` };
    }
    cursor = result.nextCursor;
    if (cursor === undefined) return { tools };
  }
  return { tools, note: `the server's tool list has more than ${MAX_LIST_PAGES} pages; the rest are ignored` };
}

/**
 * The model-facing spec of one offered tool, or why it is dropped (the message names the tool
 * only when the name is valid, so it stays short and printable).
 */
function toSpec(tool: Tool, server: number): McpToolSpec | string {
  if (!TOOL_NAME.test(tool.name)) return `a tool name is not 1-64 letters, digits, _ or - (${JSON.stringify(truncate(tool.name, 64, '…'))}): tool dropped`;
  let parameters: string;
  try {
    parameters = safeJson(tool.inputSchema);
  } catch {
    // Nested too deeply to serialize (a hostile server): the stack would overflow.
    return `tool ${tool.name}: input schema not serializable: tool dropped`;
  }
  if (Buffer.byteLength(parameters) > MAX_SCHEMA_BYTES) return `tool ${tool.name}: input schema larger than ${MAX_SCHEMA_BYTES} bytes: tool dropped`;
  const description = sanitize(truncate(tool.description ?? tool.title ?? '', MAX_DESCRIPTION, '…'));
  return { name: tool.name, description, parameters: JSON.parse(parameters) as Record<string, unknown>, server };
}

/**
 * The tools of a run's MCP servers, for the model. Servers are asked in parallel, each within
 * `timeoutMs`; one that is refused, fails or hangs gives an error entry, never a throw.
 * `allowedTools`, when given, keeps only those names (a name the server does not offer gives an
 * error entry). Names must be what providers accept (^[a-zA-Z0-9_-]{1,64}$); others are dropped
 * with an error entry. Names are unique: a name already taken, by `reservedNames` (the workspace
 * tools by default) or by a server earlier in the list (or earlier in the same server's list), is
 * dropped with an error entry; the first holder keeps it. So the outcome is deterministic: the
 * list's order decides.
 */
export async function listMcpTools(servers: McpServerSpec[], options: McpListOptions): Promise<{ tools: McpToolSpec[]; errors: { server: number; error: string }[] }> {
  const answers = await Promise.all(servers.map((spec) => listOne(spec, options)));
  const tools: McpToolSpec[] = [];
  const errors: { server: number; error: string }[] = [];
  const taken = new Set<string>(options.reservedNames ?? WORKSPACE_TOOL_NAMES);
  let listed = 0;
  answers.forEach((answer, server) => {
    const spec = servers[server] as McpServerSpec;
    if ('error' in answer) return errors.push({ server, error: answer.error });
    if (answer.note) errors.push({ server, error: answer.note });
    let fromServer = 0;
    for (const tool of answer.tools) {
      const result = toSpec(tool, server);
      const bytes = typeof result === 'string' ? 0 : Buffer.byteLength(JSON.stringify(result));
      if (typeof result === 'string') errors.push({ server, error: result });
      else if (taken.has(result.name)) errors.push({ server, error: `tool ${result.name}: the name is taken by an earlier tool: tool dropped` });
      else if (fromServer + bytes > MAX_LISTING_BYTES_PER_SERVER || listed + bytes > MAX_LISTING_BYTES) {
        errors.push({ server, error: `tool ${result.name}: the tools listed pass ${MAX_LISTING_BYTES_PER_SERVER / 1024} KiB per server or ${MAX_LISTING_BYTES / 1024} KiB per run: tool dropped` });
      } else {
        tools.push(result);
        taken.add(result.name);
        fromServer += bytes;
        listed += bytes;
      }
    }
    const offered = new Set(answer.tools.map((t) => t.name));
    const missing = [...new Set(spec.allowedTools ?? [])].filter((name) => !offered.has(name));
    if (missing.length > 0) errors.push({ server, error: sanitize(truncate(`allowedTools names tools the server does not offer: ${missing.join(', ')}`, MAX_ERROR, '…')) });
  });
  return { tools, errors };
}

async function listOne(spec: McpServerSpec, options: McpOptions): Promise<{ tools: Tool[]; note?: string } | { error: string }> {
  const problem = mcpSpecProblem(spec);
  if (problem) return { error: problem };
  try {
    const allowed = spec.allowedTools ? new Set(spec.allowedTools) : undefined;
    return await withServer(spec, options, undefined, (client, request) => serverTools(client, request, allowed));
  } catch (err) {
    return { error: failure(err, spec) };
  }
}

const failed = (error: string): ToolOutcome => ({ result: '', truncated: false, error, sandboxMs: 0 });

/** The model's arguments text as an object, or why it is not one. An empty text is no arguments. */
function parseArguments(text: string): Record<string, unknown> | string {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the arguments are not valid JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the arguments must be a JSON object';
  return value as Record<string, unknown>;
}

/**
 * Calls one tool of one MCP server. The outcome's `result` is the text of the tool's content
 * (text blocks joined with newlines, other blocks described in brackets), cut at
 * TOOL_RESULT_MAX_BYTES with TRUNCATION_MARKER. A result flagged isError becomes `error` (its
 * text, bounded the same way). Every failure (a spec problem, invalid arguments, a refused
 * address, a connection error, no answer within timeoutMs, a protocol error) is an error outcome.
 *
 * Stop: when `signal` aborts, the promise REJECTS at once with the signal's reason, so the caller
 * can tell a stop from a tool failure. The SDK sends the server notifications/cancelled; the
 * transport is closed (its sockets destroyed) CANCEL_GRACE_MS later, so that it can.
 */
export async function callMcpTool(server: McpServerSpec, name: string, argumentsJson: string, options: McpOptions & { signal: AbortSignal }): Promise<ToolOutcome> {
  options.signal.throwIfAborted();
  const problem = mcpSpecProblem(server);
  if (problem) return failed(problem);
  if (!TOOL_NAME.test(name) || (server.allowedTools && !server.allowedTools.includes(name))) return failed('no such tool on this MCP server');
  const args = parseArguments(argumentsJson);
  if (typeof args === 'string') return failed(args);
  try {
    const result = await withServer(server, options, options.signal, (client, request) =>
      client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema, request),
    );
    // What the tool returns is shown to the run's readers (an end user's token too): never the tenant's header secrets.
    const bounded = boundText(resultText(result));
    const { text, truncated } = { text: redactHeaders(bounded.text, server), truncated: bounded.truncated };
    if (result.isError) return failed(text === '' ? 'the tool reported an error' : text);
    return { result: text, truncated, sandboxMs: 0 };
  } catch (err) {
    if (options.signal.aborted) throw options.signal.reason;
    return failed(failure(err, server));
  }
}
