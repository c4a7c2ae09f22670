import { sanitize } from '../text';
import { TRUNCATION_MARKER } from './types';

/**
 * Keeps the first `max` bytes of a stream and counts the rest: what a tool reads from its
 * process never grows past the cap, however much the process writes.
 */
export class BoundedCapture {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte received, kept or not. */
  total = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const room = this.max - this.kept;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(Buffer.from(part)); // a copy: the stream may reuse its buffer
    this.kept += part.length;
  }

  get overflowed(): boolean {
    return this.total > this.max;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.kept);
  }
}

/** The longest prefix of `bytes` of at most `max` bytes that does not end inside a UTF-8 sequence. */
function utf8Cut(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let end = max;
  // Back off over continuation bytes to the start of the sequence that would be cut.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}

/**
 * What the model sees: storable text (NUL and lone surrogates replaced) of at most `max` bytes;
 * when cut (or when `cut` says the input itself was already cut), it ends with TRUNCATION_MARKER.
 */
export function boundedResult(text: string | Buffer, max: number, cut = false): { result: string; truncated: boolean } {
  const bytes = typeof text === 'string' ? Buffer.from(sanitize(text), 'utf8') : text;
  if (!cut && bytes.length <= max) return { result: sanitize(bytes.toString('utf8')), truncated: false };
  const room = Math.max(0, max - Buffer.byteLength(TRUNCATION_MARKER));
  return { result: sanitize(utf8Cut(bytes, room).toString('utf8')) + TRUNCATION_MARKER, truncated: true };
}

/**
 * Where `pattern` occurs in `text`, overlapping occurrences included, found in O(n + m)
 * (Knuth–Morris–Pratt): `indexOf` in a loop can take n·m steps on crafted input such as
 * `aaaa…ab` in `aaaa…a`. Stops counting positions after `maxPositions` but not the count.
 */
export function occurrences(text: string, pattern: string, maxPositions = 1): { count: number; positions: number[] } {
  const positions: number[] = [];
  if (pattern.length === 0) return { count: 0, positions };
  const fail = new Int32Array(pattern.length);
  for (let i = 1, k = 0; i < pattern.length; i++) {
    while (k > 0 && pattern.charCodeAt(i) !== pattern.charCodeAt(k)) k = fail[k - 1] ?? 0;
    if (pattern.charCodeAt(i) === pattern.charCodeAt(k)) k++;
    fail[i] = k;
  }
  let count = 0;
  for (let i = 0, k = 0; i < text.length; i++) {
    while (k > 0 && text.charCodeAt(i) !== pattern.charCodeAt(k)) k = fail[k - 1] ?? 0;
    if (text.charCodeAt(i) === pattern.charCodeAt(k)) k++;
    if (k === pattern.length) {
      count++;
      if (positions.length < maxPositions) positions.push(i - k + 1);
      k = fail[k - 1] ?? 0;
    }
  }
  return { count, positions };
}
