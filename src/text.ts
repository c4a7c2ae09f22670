/**
 * Helpers for text that comes from outside (tenants, models, CLI agents, setup commands): it may
 * hold anything a JavaScript string can, while PostgreSQL text and jsonb refuse NUL and lone
 * UTF-16 surrogates (jsonb rejects the `\u0000` and unpaired `\udXXX` escapes JSON.stringify
 * writes for them), and a terminal obeys any escape sequence it is given.
 */

/** NUL, a high surrogate not followed by a low one, or a low surrogate not preceded by a high one. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether PostgreSQL would refuse the text as it is (it holds a NUL or a lone surrogate). */
export function isUnstorable(text: string): boolean {
  return text.search(UNSTORABLE) !== -1;
}

/** Replaces NUL and lone surrogates with U+FFFD, one for one (the length does not change). */
export function sanitize(text: string): string {
  return text.replace(UNSTORABLE, '\uFFFD');
}

/** JSON.stringify with every string value sanitized: what PostgreSQL jsonb always accepts. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? sanitize(v) : v));
}

/**
 * At most `max` UTF-16 units of `text` (the ellipsis included, when it is cut), never cutting a
 * surrogate pair in two: `.slice` alone can leave half of an emoji, which PostgreSQL refuses.
 */
export function truncate(text: string, max: number, ellipsis = ''): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - ellipsis.length);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end) + ellipsis;
}

/** At most the last `max` UTF-16 units of `text`, never starting with half of a surrogate pair. */
export function tailOf(text: string, max: number): string {
  if (text.length <= max) return text;
  const start = text.length - max;
  const first = text.charCodeAt(start);
  return text.slice(first >= 0xdc00 && first <= 0xdfff ? start + 1 : start);
}

/** A storable excerpt of untrusted text (an error body, a provider's message) for messages and rows. */
export function excerpt(text: string, max: number): string {
  return sanitize(truncate(text, max));
}

/**
 * Escape sequences and control characters, for output shown on a terminal: CSI (`ESC [` or
 * U+009B, up to its final byte), OSC/DCS/SOS/PM/APC strings (up to BEL or ST, or the end of the
 * text), any other `ESC` sequence, and every remaining C0 and C1 control and DEL except tab and
 * line feed. The last alternative alone makes the output safe; the others remove the
 * sequences' parameters too, which would otherwise show as noise.
 */
const TERMINAL_CONTROLS = new RegExp(
  [
    '(?:\\x1b\\[|\\x9b)[\\x30-\\x3f]*[\\x20-\\x2f]*[\\x40-\\x7e]',
    '(?:\\x1b[\\]PX^_]|[\\x90\\x98\\x9d\\x9e\\x9f])[^\\x07\\x1b\\x9c]*(?:\\x07|\\x1b\\\\|\\x9c)?',
    '\\x1b[\\x20-\\x2f]*[\\x30-\\x7e]',
    '[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f]',
  ].join('|'),
  'g',
);

/** Text safe to write to a terminal: no escape sequence and no control character but `\t` and `\n`. */
export function stripTerminalControls(text: string): string {
  return text.replace(TERMINAL_CONTROLS, '');
}
