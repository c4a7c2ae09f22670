import type { ToolSpec, WorkspaceToolName } from './types';

const PATH = { type: 'string', description: 'Path relative to the workspace root, e.g. "src/index.ts". Absolute paths and ".." leading out are refused.' };

/** What the model is told about each workspace tool: the arguments mirror workspace-tool-args.ts. */
const SPECS: Record<WorkspaceToolName, ToolSpec> = {
  read_file: {
    name: 'read_file',
    description:
      'Read a text file of the workspace. Lines come numbered like `cat -n` ("     12<TAB>text"; the numbers are not part of the file). ' +
      'Reads at most `limit` lines (default 2000) from line `offset` (1-based, default 1) and at most 16 KiB; a cut result ends with a truncation note: read on with a larger offset.',
    parameters: {
      type: 'object',
      properties: {
        path: PATH,
        offset: { type: 'integer', minimum: 1, description: 'First line to read (1-based).' },
        limit: { type: 'integer', minimum: 1, description: 'Most lines to read.' },
      },
      required: ['path'],
      additionalProperties: false,
    },
  },
  write_file: {
    name: 'write_file',
    description: 'Create or overwrite a file of the workspace with `content` (UTF-8 text, at most 1 MiB). Missing folders are created.',
    parameters: {
      type: 'object',
      properties: { path: PATH, content: { type: 'string', description: 'The whole new content of the file.' } },
      required: ['path', 'content'],
      additionalProperties: false,
    },
  },
  edit_file: {
    name: 'edit_file',
    description:
      'Replace one exact occurrence of `old_string` in a file with `new_string`. `old_string` must occur exactly once (matched literally, whitespace included, without read_file line numbers); ' +
      'otherwise nothing changes and the error says how many times it occurs: include more surrounding text to make it unique.',
    parameters: {
      type: 'object',
      properties: {
        path: PATH,
        old_string: { type: 'string', description: 'The exact text to replace; must occur exactly once.' },
        new_string: { type: 'string', description: 'The text to put in its place.' },
      },
      required: ['path', 'old_string', 'new_string'],
      additionalProperties: false,
    },
  },
  list_files: {
    name: 'list_files',
    description: 'List the files and folders under a folder of the workspace, recursively (folders end with "/", .git is skipped), at most 1000 entries.',
    parameters: {
      type: 'object',
      properties: { path: { ...PATH, description: `${PATH.description} Default: the workspace root.` } },
      additionalProperties: false,
    },
  },
  search: {
    name: 'search',
    description:
      'Search the text files under a folder (or one file) of the workspace for a pattern, like `grep -rn`: one `path:line:text` per matching line, at most 200, binary files and .git skipped. ' +
      'The pattern is a literal string unless `regex` is true (POSIX extended regular expression).',
    parameters: {
      type: 'object',
      properties: {
        pattern: { type: 'string', description: 'The text to find (one line).' },
        path: { ...PATH, description: `${PATH.description} Default: the workspace root.` },
        regex: { type: 'boolean', description: 'Treat the pattern as an extended regular expression (default false: a literal string).' },
      },
      required: ['pattern'],
      additionalProperties: false,
    },
  },
  run_command: {
    name: 'run_command',
    description:
      'Run a shell command line (`sh -c`) in the workspace root, in a sandbox without network access, with a time limit (60 s by default). ' +
      'Returns stdout and stderr combined (at most 16 KiB); a non-zero exit is reported as an error with the output.',
    parameters: {
      type: 'object',
      properties: { command: { type: 'string', description: 'The command line, e.g. "npm test -- --silent".' } },
      required: ['command'],
      additionalProperties: false,
    },
  },
};

/** The model-facing specs of the named workspace tools, in the order given (duplicates once). */
export function workspaceToolSpecs(names: readonly WorkspaceToolName[]): ToolSpec[] {
  return [...new Set(names)].map((name) => structuredClone(SPECS[name]));
}
