import type { McpServerSpec } from './types';

/** What providers accept as a tool name (OpenAI and Anthropic alike). */
export const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const MAX_HEADERS = 32;
const MAX_HEADER_VALUE = 8 * 1024;
const MAX_URL = 2048;
/** An HTTP token (RFC 9110). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;
/** What node:http sends without refusing: no CR, LF, NUL or other control but tab. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/**
 * Headers the transport or HTTP itself owns: a tenant's value would break framing (length,
 * encoding), the MCP session, or the connection.
 */
const RESERVED_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer',
  'proxy-authorization', 'proxy-connection', 'expect', 'content-type', 'accept', 'last-event-id',
  'mcp-session-id', 'mcp-protocol-version',
]);

/**
 * Why this MCP server spec cannot be used, or undefined. Messages name the header, never its value
 * (header values are secrets). The API may call it to refuse a run up front; the MCP functions
 * call it again and return the problem as an error.
 */
export function mcpSpecProblem(spec: McpServerSpec): string | undefined {
  if (typeof spec.url !== 'string' || spec.url.length > MAX_URL) return `the MCP server URL must be at most ${MAX_URL} characters`;
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    return 'the MCP server URL is not an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'the MCP server URL must be http or https';
  if (url.username || url.password) return 'credentials in the MCP server URL are not allowed (send them as headers)';
  return headersProblem(spec.headers);
}

function headersProblem(headers: Record<string, string> | undefined): string | undefined {
  if (headers === undefined) return undefined;
  if (typeof headers !== 'object' || headers === null) return 'MCP server headers must be an object';
  const entries = Object.entries(headers);
  if (entries.length > MAX_HEADERS) return `at most ${MAX_HEADERS} MCP server headers`;
  const seen = new Set<string>();
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) return 'an MCP server header name is not a valid HTTP header name';
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) return `the MCP server header ${lower} is set by Runway`;
    if (seen.has(lower)) return `the MCP server header ${lower} is given twice`;
    seen.add(lower);
    if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(value)) {
      return `the value of the MCP server header ${lower} is not a valid header value (at most ${MAX_HEADER_VALUE} characters, no control characters)`;
    }
  }
  return undefined;
}

/**
 * At most `max` characters of `message`, with every header value of the spec (and each long word
 * of one, such as the token of `Bearer <token>`) replaced: header values are secrets, and an error
 * from below (a server echoing a request, a library quoting a value) must show them neither to
 * the model nor to the logs. The message is cut to `max` plus the longest value first, which
 * bounds the work and still holds whole any secret that starts within the excerpt.
 */
export function redactedExcerpt(message: string, spec: McpServerSpec, max: number): string {
  const text = redactHeaders(message.slice(0, max + MAX_HEADER_VALUE), spec);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Header values and words redacted at most (a header's token is one or two of them). */
const MAX_SECRET_FORMS = 256;

/** The text with the spec's header values (and their words of 6+ characters) replaced, in every form a server may echo them. */
export function redactHeaders(message: string, spec: McpServerSpec): string {
  let text = message;
  // A server may echo a header as it is, as a JSON string or URL-encoded: each form of the value and of its words.
  const forms = (v: string) => [v, JSON.stringify(v).slice(1, -1), encodeURIComponent(v)];
  const secrets = new Set(Object.values(spec.headers ?? {}).flatMap((v) => (typeof v === 'string' ? [v, ...v.split(/\s+/)].flatMap(forms) : [])));
  // Longest first, so that a value is replaced before a word of it is; at most MAX_SECRET_FORMS of
  // them, so the work stays linear in the text whatever the headers hold.
  const longest = [...secrets].filter((v) => v.length >= 6).sort((a, b) => b.length - a.length).slice(0, MAX_SECRET_FORMS);
  for (const secret of longest) {
    text = text.split(secret).join('[redacted]');
  }
  return text;
}
