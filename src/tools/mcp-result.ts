import { sanitize } from '../text';
import { TOOL_RESULT_MAX_BYTES, TRUNCATION_MARKER } from './types';

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes, the marker included when it is cut, never in the
 * middle of a character; NUL and lone surrogates replaced (results are stored in PostgreSQL).
 */
export function boundText(text: string, maxBytes = TOOL_RESULT_MAX_BYTES): { text: string; truncated: boolean } {
  // A text longer than maxBytes units is longer than maxBytes bytes: only its head can matter.
  const head = sanitize(text.length > maxBytes ? text.slice(0, maxBytes + 1) : text);
  const bytes = Buffer.from(head);
  if (text.length <= maxBytes && bytes.length <= maxBytes) return { text: head, truncated: false };
  let end = Math.max(0, maxBytes - Buffer.byteLength(TRUNCATION_MARKER));
  // Back up to the start of a character (a UTF-8 continuation byte is 10xxxxxx).
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString() + TRUNCATION_MARKER, truncated: true };
}

/** One block of an MCP tool result, as the SDK parsed it (the fields read here, all optional). */
interface ContentBlock {
  type?: unknown;
  text?: unknown;
  mimeType?: unknown;
  uri?: unknown;
  name?: unknown;
  resource?: { uri?: unknown; text?: unknown; mimeType?: unknown };
}

const str = (v: unknown, max = 200): string => (typeof v === 'string' ? v.slice(0, max) : '');

/** What the model reads of one block: text as it is; an image, audio or resource briefly described. */
function describeBlock(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return str(block.text, Number.MAX_SAFE_INTEGER);
    case 'image':
    case 'audio':
      return `[${block.type}${block.mimeType ? `: ${str(block.mimeType)}` : ''}]`;
    case 'resource':
      if (typeof block.resource?.text === 'string') return block.resource.text;
      return `[resource: ${str(block.resource?.uri)}${block.resource?.mimeType ? ` (${str(block.resource.mimeType)})` : ''}]`;
    case 'resource_link':
      return `[resource link: ${str(block.uri)}${block.name ? ` (${str(block.name)})` : ''}]`;
    default:
      return `[${str(block.type, 40) || 'unknown'} content]`;
  }
}

/**
 * The text of a tool result's content: blocks joined with newlines, stopping once the text is
 * longer than the model will see (the response is bounded already; this spares the join). A
 * result with no content but structured content gives that as JSON.
 */
export function resultText(result: { content?: unknown; structuredContent?: unknown }, maxBytes = TOOL_RESULT_MAX_BYTES): string {
  const blocks = Array.isArray(result.content) ? (result.content as ContentBlock[]) : [];
  const parts: string[] = [];
  let length = 0;
  for (const block of blocks) {
    if (length > maxBytes) break;
    const part = describeBlock(block && typeof block === 'object' ? block : {});
    parts.push(part);
    length += part.length + 1;
  }
  if (parts.length === 0 && result.structuredContent !== undefined) return JSON.stringify(result.structuredContent) ?? '';
  return parts.join('\n');
}
