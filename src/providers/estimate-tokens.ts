import type { ModelMessage } from './types';

/**
 * Input tokens of a chat request, leaning high: about four bytes a token in English, counted as
 * three, plus a few tokens of framing per message. Only the estimate (the reservation) uses it;
 * the charge follows the usage the provider reports.
 */
export function estimateChatTokens(messages: ModelMessage[]): number {
  return messages.reduce((n, m) => n + 4 + Math.ceil(Buffer.byteLength(m.content) / 3), 3);
}
