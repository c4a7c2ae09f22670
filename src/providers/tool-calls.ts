import { randomUUID } from 'node:crypto';
import type { ToolCall } from './types';
import { ProviderError } from './types';

/**
 * Bytes of tool calls (ids, names and argument text) one streamed turn may carry. The arguments
 * arrive in fragments from an endpoint we do not control; past this the turn fails instead of
 * growing without end. Real calls are a few KiB.
 */
export const MAX_TOOL_CALL_BYTES = 1024 * 1024;
/** Tool calls one turn may make; each is a tool run, so hundreds would be a broken model. */
export const MAX_TOOL_CALLS_PER_TURN = 128;

function badToolCall(message: string): ProviderError {
  // Not retryable: the same request would ask the same model for the same thing.
  return new ProviderError(message, 'provider_bad_tool_call', false);
}

interface PendingCall {
  id: string;
  name: string;
  /** Argument fragments as they came; joined once, so assembling stays linear. */
  fragments: string[];
}

/**
 * Assembles streamed tool calls, keyed by the protocol's index (OpenAI's `tool_calls[].index`,
 * Anthropic's content block index), under one byte budget per turn.
 */
export class ToolCallAssembler {
  private readonly pending = new Map<number, PendingCall>();
  private bytes = 0;
  private started = 0;

  has(key: number): boolean {
    return this.pending.has(key);
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Starts a call at `key`, or fills in the id or name a first delta left out. Values come from
   * the provider's JSON as is: anything but a string is ignored.
   */
  begin(key: number, id: unknown, name: unknown): void {
    let call = this.pending.get(key);
    if (!call) {
      if (++this.started > MAX_TOOL_CALLS_PER_TURN) throw badToolCall(`the model made more than ${MAX_TOOL_CALLS_PER_TURN} tool calls in one turn`);
      call = { id: '', name: '', fragments: [] };
      this.pending.set(key, call);
    }
    // First value wins: some servers repeat the id and name in every delta of a call.
    if (typeof id === 'string' && id && !call.id) call.id = this.count(id);
    if (typeof name === 'string' && name && !call.name) call.name = this.count(name);
  }

  /** Adds a fragment of the call's argument text; null or absent is no fragment. */
  append(key: number, fragment: unknown): void {
    const call = this.pending.get(key);
    if (!call) throw badToolCall(`tool call arguments for index ${key}, which was never started`);
    if (fragment === undefined || fragment === null) return;
    if (typeof fragment !== 'string') throw badToolCall('the provider sent tool call arguments that are not text');
    if (fragment) call.fragments.push(this.count(fragment));
  }

  /** The call at `key`, removed; `undefined` if none was started there. */
  take(key: number): ToolCall | undefined {
    const call = this.pending.get(key);
    if (!call) return undefined;
    this.pending.delete(key);
    if (!call.name) throw badToolCall('the model made a tool call without a name');
    // Servers that give no id (some local ones) still need one for the answer to name.
    const id = call.id || `call_${randomUUID()}`;
    return { id, name: call.name, arguments: call.fragments.join('') || '{}' };
  }

  /** Every pending call, in key order. */
  takeAll(): ToolCall[] {
    const keys = [...this.pending.keys()].sort((a, b) => a - b);
    return keys.map((key) => this.take(key)).filter((call): call is ToolCall => call !== undefined);
  }

  private count(text: string): string {
    this.bytes += Buffer.byteLength(text, 'utf8');
    if (this.bytes > MAX_TOOL_CALL_BYTES) throw badToolCall(`the model's tool calls exceed ${MAX_TOOL_CALL_BYTES} bytes in one turn`);
    return text;
  }
}

/**
 * A call's arguments as the JSON object Anthropic's `tool_use.input` needs. Arguments that are
 * not a JSON object (the model's own broken text, replayed) become `{}`: the tool already
 * answered them with an error, and the request must stay valid.
 */
export function toolInputObject(args: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    return {};
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  try {
    // Nesting deep enough to overflow the stack parses but does not serialize back.
    JSON.stringify(parsed);
  } catch {
    return {};
  }
  return parsed as Record<string, unknown>;
}
