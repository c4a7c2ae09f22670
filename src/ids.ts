import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export type IdPrefix = 'run' | 'acct' | 'ses' | 'req' | 'wh' | 'msg';

/** An opaque, unguessable id such as `run_0f3k…` (120 random bits). */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base32(randomBytes(15))}`;
}

/** The same inputs always give the same id: used to map an Idempotency-Key to its run. */
export function derivedId(prefix: IdPrefix, ...parts: string[]): string {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest();
  return `${prefix}_${base32(digest.subarray(0, 15))}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** API keys carry 192 random bits, so a fast hash is enough to store them safely. */
export function newApiKey(): string {
  return `rwk_${randomBytes(24).toString('base64url')}`;
}
