import path from 'node:path';
import { z } from 'zod';
import { isUnstorable } from '../text';
import type { WorkspaceToolName } from './types';

/**
 * The arguments of the workspace tools as the model writes them, checked before anything runs:
 * every string is bounded, holds no NUL or lone surrogate, and paths stay in the workspace.
 * Bounds are in UTF-16 units (`.length`, constant time); byte sizes are checked where they matter.
 */

/** Longest path the tools accept (PATH_MAX); the kernel refuses longer ones anyway. */
const MAX_PATH_CHARS = 4096;
/** A search pattern and a command travel as arguments of the sandboxed process, below Linux's 128 KiB per argument. */
const MAX_PATTERN_CHARS = 4096;
export const MAX_COMMAND_CHARS = 64 * 1024;
/** Line numbers are bounded so that `tail -n +N` gets a sane number. */
const MAX_LINE_NUMBER = 1_000_000_000;

const CONTROL = /[\x00-\x1f\x7f]/;

const storable = (what: string, max: number) =>
  z
    .string()
    .max(max, `${what} is longer than ${max} characters`)
    .refine((s) => !isUnstorable(s), `${what} holds a NUL byte or a lone UTF-16 surrogate`);

/**
 * A path relative to the workspace, normalized (`a/./b/../c` → `a/c`); "" and "." are the
 * workspace itself. Absolute paths, `..` escapes and control characters are refused here; symbolic
 * links are resolved and checked inside the sandbox, where they are read.
 */
const workspacePath = storable('path', MAX_PATH_CHARS).transform((raw, ctx) => {
  const refuse = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (CONTROL.test(raw)) return refuse('path must not hold control characters');
  if (raw.startsWith('/')) return refuse('path must be relative to the workspace (absolute paths are refused)');
  const normalized = path.posix.normalize(raw === '' ? '.' : raw);
  if (normalized === '..' || normalized.startsWith('../')) return refuse('path must stay inside the workspace (".." leads out of it)');
  return normalized;
});

const lineNumber = z.number().int().min(1).max(MAX_LINE_NUMBER);

export const WORKSPACE_TOOL_ARGS = {
  read_file: z.object({ path: workspacePath, offset: lineNumber.optional(), limit: lineNumber.optional() }),
  write_file: z.object({ path: workspacePath, content: storable('content', Number.MAX_SAFE_INTEGER) }),
  edit_file: z.object({
    path: workspacePath,
    old_string: storable('old_string', Number.MAX_SAFE_INTEGER).refine((s) => s.length > 0, 'old_string must not be empty'),
    new_string: storable('new_string', Number.MAX_SAFE_INTEGER),
  }),
  list_files: z.object({ path: workspacePath.optional() }),
  search: z.object({
    pattern: storable('pattern', MAX_PATTERN_CHARS)
      .refine((s) => s.length > 0, 'pattern must not be empty')
      .refine((s) => !/[\r\n]/.test(s), 'pattern must be a single line'),
    path: workspacePath.optional(),
    regex: z.boolean().optional(),
  }),
  run_command: z.object({
    command: storable('command', MAX_COMMAND_CHARS)
      .refine((s) => s.trim().length > 0, 'command must not be empty')
      // 64 Ki UTF-16 units may be 192 KiB of UTF-8: the kernel's limit is on bytes.
      .refine((s) => Buffer.byteLength(s) <= MAX_COMMAND_CHARS, `command must be at most ${MAX_COMMAND_CHARS} bytes of UTF-8`),
  }),
} satisfies Record<WorkspaceToolName, z.ZodType>;

export type WorkspaceToolArgs = { [K in WorkspaceToolName]: z.infer<(typeof WORKSPACE_TOOL_ARGS)[K]> };

export type ParsedArgs<K extends WorkspaceToolName> = { ok: true; args: WorkspaceToolArgs[K] } | { ok: false; error: string };

/**
 * The model's JSON arguments for tool `name`, or why they are refused. The size is checked before
 * parsing (a length read is constant time); the parse and the checks are linear in it.
 */
export function parseToolArguments<K extends WorkspaceToolName>(name: K, json: string, maxChars: number): ParsedArgs<K> {
  if (json.length > maxChars) return { ok: false, error: `the arguments are longer than ${maxChars} characters` };
  let value: unknown;
  try {
    value = JSON.parse(json.trim() === '' ? '{}' : json);
  } catch {
    return { ok: false, error: 'the arguments are not valid JSON' };
  }
  const parsed = WORKSPACE_TOOL_ARGS[name].safeParse(value);
  if (parsed.success) return { ok: true, args: parsed.data as WorkspaceToolArgs[K] };
  const issues = parsed.error.issues.slice(0, 5).map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message));
  return { ok: false, error: `invalid arguments: ${issues.join('; ')}` };
}
