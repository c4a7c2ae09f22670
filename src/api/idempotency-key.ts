import type { Context } from 'koa';
import { z } from 'zod';
import { Problem } from './problem';

/** The header as the OpenAPI document shows it; idempotencyKeyOf checks it. */
export const idempotencyKeyHeader = z.object({ 'idempotency-key': z.string().optional() });

/** The optional Idempotency-Key header: 1 to 255 visible ASCII characters. */
export function idempotencyKeyOf(ctx: Context): string | undefined {
  const key = ctx.get('idempotency-key');
  if (!key) return undefined;
  if (key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw new Problem(400, 'invalid-idempotency-key', 'Invalid Idempotency-Key', 'use 1 to 255 visible ASCII characters');
  }
  return key;
}
