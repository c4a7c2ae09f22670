import cl100k from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import o200k from 'gpt-tokenizer/cjs/encoding/o200k_base';
import { modelToEncodingMap } from 'gpt-tokenizer/cjs/mapping';
import { toolInputObject } from './tool-calls';
import type { ModelMessage, ToolCall, ToolSpec } from './types';

/**
 * Input estimates. The reservation is taken from them before anything runs, and the spend cap
 * (the output tokens a call may use) is what the reservation leaves once the input is paid for,
 * so an estimate the tenant can push below the real count makes the platform pay the rest.
 * Every function here leans high and does work linear in the text, whatever the text is: they
 * run on the API's event loop before the balance check.
 */

/** Chat framing of one message (role, separators) and of the answer's priming, in tokens. */
const PER_MESSAGE = 4;
const PER_REQUEST = 3;
/** Framing of one tool call in an assistant turn, or of one tool definition (type, braces, keys). */
const PER_TOOL_ITEM = 16;
/**
 * What a provider adds to a request that offers tools: Anthropic's tool-use system prompt (346
 * tokens on current models, some 530 on older ones), OpenAI's `namespace functions` wrapper.
 */
export const TOOLS_FRAMING_TOKENS = 1024;

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * A bound that holds for any byte-level BPE tokenizer (OpenAI's, Anthropic's, Llama's…): every
 * token stands for at least one byte, so a text never has more tokens than UTF-8 bytes. Nothing
 * lower is safe without the vocabulary: "a1a1…" or "aBaB…" is one token per byte in both of
 * OpenAI's current encodings (the pre-tokenizer splits letters from digits and lower from upper
 * case), and private-use, CJK Extension B or C1-control text is one to three tokens per
 * character. It over-reserves English about four times; the difference is refunded at settle.
 * Tool definitions count as their JSON and tool calls as all their text, plus framing.
 */
export function estimateByBytes(messages: ModelMessage[], tools?: ToolSpec[]): number {
  let total = PER_REQUEST + toolsFraming(tools) + toolSpecTexts(tools).reduce((n, t) => n + utf8Bytes(t), 0);
  for (const m of messages) total += messageFraming(m) + messageTexts(m, true).reduce((n, t) => n + utf8Bytes(t), 0);
  return total;
}

function messageFraming(m: ModelMessage): number {
  return PER_MESSAGE + (m.role === 'assistant' ? (m.toolCalls?.length ?? 0) * PER_TOOL_ITEM : 0);
}

/**
 * Every string of a message a provider may render: the content, a tool answer's call id and
 * tool name, an assistant turn's calls. With `reserialized`, a call's arguments count twice: as
 * sent to OpenAI and as the object Anthropic gets, which re-serializing can make longer than the
 * model's text ("1e20" becomes 21 digits).
 */
function messageTexts(m: ModelMessage, reserialized: boolean): string[] {
  if (m.role === 'tool') return [m.content, m.toolCallId, m.name];
  if (m.role !== 'assistant' || !m.toolCalls) return [m.content];
  const calls = m.toolCalls.flatMap((call) => [call.id, call.name, call.arguments, ...(reserialized ? [anthropicInput(call)] : [])]);
  return [m.content, ...calls];
}

function anthropicInput(call: ToolCall): string {
  return JSON.stringify(toolInputObject(call.arguments));
}

/**
 * Tool definitions as JSON, longer than the renderings known (Anthropic's JSON; OpenAI's
 * TypeScript-like declarations, whose `"type":"object"`s become `{`) but for one thing: OpenAI
 * starts each line of a description with `// `, which `toolsFraming` pays for.
 */
function toolSpecTexts(tools: ToolSpec[] | undefined): string[] {
  return (tools ?? []).map((tool) => JSON.stringify({ name: tool.name, description: tool.description, parameters: tool.parameters }));
}

/** A line break escaped in JSON text (`\n`): a comment line of its own in OpenAI's rendering. */
const ESCAPED_LINE_BREAK = /\\n/g;

/** Framing of the tool definitions, in tokens: once per request, per tool, per comment line. */
function toolsFraming(tools: ToolSpec[] | undefined): number {
  if (!tools || tools.length === 0) return 0;
  const lines = toolSpecTexts(tools).reduce((n, t) => n + (t.match(ESCAPED_LINE_BREAK)?.length ?? 0), 0);
  return TOOLS_FRAMING_TOKENS + tools.length * PER_TOOL_ITEM + 3 * lines;
}

type Encoding = 'o200k_base' | 'cl100k_base';

/**
 * OpenAI's encoding of a model, from the tokenizer's own model table. Models it does not list
 * (newer ones, or names an OpenAI-compatible server gives its models) get the current family's
 * o200k_base, which is also what the table leaves out: it lists only models of older encodings.
 */
export function encodingOf(upstreamModel: string): Encoding {
  const listed = (modelToEncodingMap as Record<string, string | undefined>)[upstreamModel];
  return listed === 'cl100k_base' ? 'cl100k_base' : 'o200k_base';
}

const ENCODERS: Record<Encoding, { countTokens(text: string, options: object): number }> = { o200k_base: o200k, cl100k_base: cl100k };
/** Special-token text ("<|endoftext|>") in a prompt is plain text to the API: counted, never refused. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/**
 * Pieces handed to the tokenizer at once. BPE merging is quadratic in the length of a
 * pre-token (the tokenizer's cost for 16,000 spaces or private-use characters in one piece was
 * 0.3-1.2 s, 64,000 spaces 6 s), and a piece can be the whole text: cutting the text into short
 * pieces bounds the work per character.
 */
export const TOKENIZER_PIECE_CHARS = 256;
/**
 * Characters of one estimate counted with the tokenizer; the rest is counted by bytes (an upper
 * bound, above). Random ASCII costs the tokenizer about 1.5 µs a character (no cache hit, short
 * pre-tokens), so this keeps one estimate under about 0.1 s of the event loop however the text
 * is made, while real prompts up to 64 Ki characters (some 16,000 tokens) are counted exactly.
 */
export const TOKENIZED_CHARS_PER_ESTIMATE = 64 * 1024;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

/**
 * Where to end the piece that starts at `start`: just before a space that follows a non-space
 * (OpenAI's pre-tokenizers always start a new pre-token there, so the counts add up exactly), in
 * the second half of the window if there is one; else a hard cut at the window's end (never
 * between the halves of a surrogate pair), which the caller pays one token for.
 */
function pieceEnd(text: string, start: number, max: number): { end: number; hard: boolean } {
  const limit = Math.min(text.length, start + max);
  if (limit === text.length) return { end: limit, hard: false };
  for (let i = limit - 1; i > start + (max >> 1); i--) {
    if (text.charCodeAt(i) === 0x20 && !isSpace(text.charCodeAt(i - 1))) return { end: i, hard: false };
  }
  const last = text.charCodeAt(limit - 1);
  const next = text.charCodeAt(limit);
  const splitsPair = last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
  // Always at least one unit: a budget of one left at a pair's first half still moves on.
  const end = splitsPair && limit - 1 > start ? limit - 1 : limit;
  return { end, hard: true };
}

/**
 * Tokens of `text` in `encoding`, counted piece by piece: exact where pieces end at a pre-token
 * boundary; a hard cut inside a pre-token adds one token, since BPE within each part may merge
 * differently than across it. Past `budget` characters the rest is counted by bytes. Returns
 * the count and the budget left.
 */
function countBounded(text: string, encoding: Encoding, budget: number): { tokens: number; budget: number } {
  const encoder = ENCODERS[encoding];
  let tokens = 0;
  let at = 0;
  while (at < text.length && budget > 0) {
    const { end, hard } = pieceEnd(text, at, Math.min(TOKENIZER_PIECE_CHARS, budget));
    const piece = text.slice(at, end);
    tokens += encoder.countTokens(piece, AS_TEXT) + (hard ? 1 : 0);
    budget -= piece.length;
    at = end;
  }
  if (at < text.length) tokens += utf8Bytes(text.slice(at));
  return { tokens, budget };
}

/**
 * Input tokens of an OpenAI chat request: each message's texts and the tool definitions counted
 * with the model's encoding (bounded as above, one budget for all), plus the chat format's
 * framing.
 */
export function estimateOpenAiTokens(messages: ModelMessage[], upstreamModel: string, tools?: ToolSpec[]): number {
  const encoding = encodingOf(upstreamModel);
  let budget = TOKENIZED_CHARS_PER_ESTIMATE;
  let total = PER_REQUEST + toolsFraming(tools);
  const count = (text: string) => {
    const counted = countBounded(text, encoding, budget);
    budget = counted.budget;
    return counted.tokens;
  };
  for (const m of messages) total += messageFraming(m) + messageTexts(m, false).reduce((n, t) => n + count(t), 0);
  return toolSpecTexts(tools).reduce((n, t) => n + count(t), total);
}

/**
 * Tokens by size, for models that report no usage (CLI agents): one token per started four
 * bytes of UTF-8, the usual ratio for English, whatever the white space (a prompt with no
 * spaces is not one word). The same rule counts their input and their output.
 */
export const BYTES_PER_SIZE_TOKEN = 4;

export function sizeTokens(bytes: number): number {
  return Math.ceil(bytes / BYTES_PER_SIZE_TOKEN);
}

export function sizeTokensOf(text: string): number {
  return sizeTokens(utf8Bytes(text));
}
