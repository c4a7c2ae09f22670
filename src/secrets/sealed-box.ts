import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SealedBox } from '../../workflows/types';

/**
 * Per-run secrets travel through Temporal only sealed with AES-256-GCM. The run id is bound as
 * associated data, so a box copied into another run's history does not open there.
 */
export function seal(key: Buffer, runId: string, value: unknown): SealedBox {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(runId));
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

export function unseal<T>(key: Buffer, runId: string, box: SealedBox): T {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(box.iv, 'base64'));
  decipher.setAAD(Buffer.from(runId));
  decipher.setAuthTag(Buffer.from(box.tag, 'base64'));
  const text = Buffer.concat([decipher.update(Buffer.from(box.data, 'base64')), decipher.final()]).toString('utf8');
  return JSON.parse(text) as T;
}
