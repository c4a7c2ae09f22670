import { z } from 'zod';

/** Credits per 1,000 tokens. One credit is one millionth of a US dollar for real providers. */
export const priceSchema = z.object({
  input: z.number().int().nonnegative(),
  output: z.number().int().nonnegative(),
});
export const priceTableSchema = z.record(z.string().min(1), priceSchema);

export type Price = z.infer<typeof priceSchema>;
export type PriceTable = z.infer<typeof priceTableSchema>;

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export const BUILT_IN_PRICES: PriceTable = {
  'demo/echo': { input: 1000, output: 1000 }, // one credit a token: easy to reason about
  'openai/gpt-4o-mini': { input: 150, output: 600 },
  'openai/gpt-4o': { input: 2500, output: 10000 },
  'openai/gpt-4.1-mini': { input: 400, output: 1600 },
  'openai/gpt-4.1': { input: 2000, output: 8000 },
  'openai/*': { input: 2500, output: 10000 },
  'anthropic/claude-haiku-4-5': { input: 1000, output: 5000 },
  'anthropic/claude-sonnet-4-5': { input: 3000, output: 15000 },
  'anthropic/claude-opus-4-1': { input: 15000, output: 75000 },
  'anthropic/*': { input: 3000, output: 15000 },
  'cli/*': { input: 1000, output: 1000 }, // agents report no usage: one token per 4 bytes (estimate-tokens.ts)
};

export class PriceBook {
  private readonly table: PriceTable;

  constructor(overrides: PriceTable = {}) {
    this.table = { ...BUILT_IN_PRICES, ...overrides };
  }

  /** The exact model's price, else its provider's `provider/*` price. */
  priceOf(model: string): Price | undefined {
    const exact = this.table[model];
    if (exact) return exact;
    const slash = model.indexOf('/');
    return slash > 0 ? this.table[`${model.slice(0, slash)}/*`] : undefined;
  }
}

/** Integer credits for a usage, rounded up so that a partial thousand is never free. */
export function costOf(price: Price, usage: Usage): number {
  const milli = usage.inputTokens * price.input + usage.outputTokens * price.output;
  return Math.ceil(milli / 1000);
}

/** How many output tokens a budget still allows once the input is paid for. */
export function outputTokensAffordable(price: Price, inputTokens: number, budget: number): number {
  if (price.output === 0) return Number.MAX_SAFE_INTEGER;
  const left = budget * 1000 - inputTokens * price.input;
  return left <= 0 ? 0 : Math.floor(left / price.output);
}
