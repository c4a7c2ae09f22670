import { setTimeout as sleep } from 'node:timers/promises';
import type { ModelCall, ModelChunk, ModelMessage, ModelProvider } from './types';

/** Words with their trailing white space, so that the concatenated deltas equal the prompt. */
export function echoTokens(text: string): string[] {
  const tokens = text.match(/\s*\S+\s*/g) ?? [];
  return tokens;
}

function lastUserText(messages: ModelMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') return m.content;
  }
  return '';
}

/**
 * `demo/echo`: streams the last user message back a word at a time, with a delay per token.
 * The offline default, so the whole platform runs without any AI account.
 */
export class DemoEchoProvider implements ModelProvider {
  readonly prefix = 'demo';

  constructor(private readonly delayMs: number) {}

  supports(model: string): boolean {
    return model === 'demo/echo';
  }

  estimateInputTokens(messages: ModelMessage[]): number {
    return messages.reduce((n, m) => n + echoTokens(m.content).length, 0);
  }

  async *stream(call: ModelCall): AsyncIterable<ModelChunk> {
    const tokens = echoTokens(lastUserText(call.messages));
    const inputTokens = this.estimateInputTokens(call.messages);
    let out = 0;
    for (const token of tokens) {
      if (out >= call.maxOutputTokens) {
        yield { type: 'finish', reason: 'length' };
        return;
      }
      if (this.delayMs > 0) await sleep(this.delayMs, undefined, { signal: call.signal });
      call.signal.throwIfAborted();
      out++;
      yield { type: 'delta', text: token };
    }
    yield { type: 'usage', usage: { inputTokens, outputTokens: out } };
    yield { type: 'finish', reason: 'stop' };
  }
}
