import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelCall, ModelChunk, ModelMessage, ModelProvider, ToolSpec } from './types';

/**
 * The longest token of `demo/echo`, in UTF-16 units: a longer word (or run of white space) is
 * several tokens, so that what a prompt costs follows its size, not its count of words.
 */
export const ECHO_TOKEN_MAX_CHARS = 8;

function isWhiteSpace(code: number): boolean {
  // What `\s` matches; the ASCII cases first, since they are nearly all there is.
  if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) return true;
  if (code < 0x80) return false;
  return (
    code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 ||
    code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff
  );
}

/**
 * Calls `each` with the end of every token of `text`, in order: a word with the white space
 * around it (leading white space joins the first word, trailing white space the word before),
 * cut every ECHO_TOKEN_MAX_CHARS units, never between the halves of a surrogate pair. One pass,
 * no regular expression: the former `\s*\S+\s*` (global) retried its leading `\s*` from every
 * white-space position, and took minutes over a megabyte of spaces.
 */
function scanTokens(text: string, each: (end: number) => void): void {
  let start = 0;
  /** The current token has a non-space character; and white space after it. */
  let word = false;
  let trailing = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const space = isWhiteSpace(code);
    if (trailing && !space) {
      each(i); // the next word begins
      start = i;
      word = false;
      trailing = false;
    } else if (i - start >= ECHO_TOKEN_MAX_CHARS) {
      const pairTail = code >= 0xdc00 && code <= 0xdfff && i - 1 > start && isHighSurrogate(text.charCodeAt(i - 1));
      const cut = pairTail ? i - 1 : i;
      each(cut);
      start = cut;
      word = pairTail; // the high surrogate moved to the new token
      trailing = false;
    }
    if (!space) word = true;
    else if (word) trailing = true;
  }
  if (start < text.length) each(text.length);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/** The tokens of `text`, whose concatenation is `text`. */
export function echoTokens(text: string): string[] {
  const tokens: string[] = [];
  let start = 0;
  scanTokens(text, (end) => {
    tokens.push(text.slice(start, end));
    start = end;
  });
  return tokens;
}

/** How many tokens `echoTokens` would return, without building them. */
export function countEchoTokens(text: string): number {
  let n = 0;
  scanTokens(text, () => n++);
  return n;
}

function lastUserText(messages: ModelMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') return m.content;
  }
  return '';
}

/**
 * `demo/echo`: streams the last user message back a token at a time, with a delay per token.
 * The offline default, so the whole platform runs without any AI account. Its estimate is exact:
 * the tokens it counts are the ones it reports.
 */
export class DemoEchoProvider implements ModelProvider {
  readonly prefix = 'demo';

  constructor(private readonly delayMs: number) {}

  supports(model: string): boolean {
    return model === 'demo/echo';
  }

  /** Tool calls and definitions are words of the input too (agent runs against the demo). */
  estimateInputTokens(messages: ModelMessage[], _model?: string, tools?: ToolSpec[]): number {
    const calls = (m: ModelMessage) => (m.role === 'assistant' ? (m.toolCalls ?? []) : []);
    const words = (m: ModelMessage) => calls(m).reduce((n, c) => n + countEchoTokens(c.name) + countEchoTokens(c.arguments), countEchoTokens(m.content));
    return messages.reduce((n, m) => n + words(m), (tools ?? []).reduce((n, t) => n + countEchoTokens(JSON.stringify(t)), 0));
  }

  async *stream(call: ModelCall): AsyncIterable<ModelChunk> {
    const inputTokens = this.estimateInputTokens(call.messages, call.model, call.tools);
    const text = lastUserText(call.messages);
    let out = 0;
    let start = 0;
    // Cut lazily: at most maxOutputTokens tokens of a long prompt are ever built.
    const ends: number[] = [];
    scanTokens(text, (end) => {
      if (ends.length <= call.maxOutputTokens) ends.push(end);
    });
    for (const end of ends) {
      if (out >= call.maxOutputTokens) {
        yield { type: 'finish', reason: 'length' };
        return;
      }
      if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: call.signal });
      call.signal.throwIfAborted();
      out++;
      yield { type: 'delta', text: text.slice(start, end) };
      start = end;
    }
    yield { type: 'usage', usage: { inputTokens, outputTokens: out } };
    yield { type: 'finish', reason: 'stop' };
  }
}
