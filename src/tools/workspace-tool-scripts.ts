/**
 * The file tools as small POSIX sh programs run inside the sandbox with coreutils, findutils and
 * grep from the sandbox's read-only /usr (no python, no node). Each gets the workspace's real path
 * as $1 and model-chosen values as further arguments, never spliced into the script text.
 *
 * Confinement: `resolve` makes the path physical (`realpath -m`, every symbolic link followed) and
 * refuses anything outside the workspace, so a link in the workspace pointing at /etc/passwd is
 * refused like "/etc/passwd" itself. The operation then uses the resolved path, which is absolute:
 * no value can be taken for an option (`-rf` is `/workspace/-rf`), and `--` ends options anyway.
 * A link swapped in between the check and the use by a concurrent command could only reach what
 * the sandbox shows (read-only /usr and a few /etc files, the workspace, its HOME and a private
 * /tmp): run_command reaches all of that anyway, so the sandbox stays the security boundary.
 *
 * Exit code 100 means a refusal explained on stderr, which the model is told.
 */

export const REFUSED_EXIT_CODE = 100;

/**
 * `$(cmd && echo x)` then `${v%??}`: command substitution strips every trailing newline, and a
 * path (through a link target) may end in one; the `x` keeps them and exactly one is removed.
 */
const PRELUDE = `
set -u
fail() { printf '%s\\n' "$*" >&2; exit ${REFUSED_EXIT_CODE}; }
ws=$(realpath -e -- "$1" && echo x) || fail "the workspace is missing"
ws=\${ws%??}
resolve() {
  real=$(realpath -m -- "$ws/$1" && echo x) || fail "cannot resolve $1"
  real=\${real%??}
  case $real in "$ws"|"$ws"/*) ;; *) fail "$1 resolves outside the workspace (through a symbolic link)" ;; esac
}
existing_file() {
  resolve "$1"
  [ -e "$real" ] || fail "$1 does not exist"
  [ -d "$real" ] && fail "$1 is a directory"
  [ -f "$real" ] || fail "$1 is not a regular file"
  [ -r "$real" ] || fail "$1 is not readable"
}
`;

/** $2 path, $3 first line (1-based), $4 most lines, $5 most bytes: those lines of the file, raw. */
export const READ_SCRIPT = `${PRELUDE}
existing_file "$2"
tail -n "+$3" -- "$real" | head -n "$4" | head -c "$5"
`;

/** $2 path, $3 most bytes: the start of the file, raw (edit_file reads the whole file this way). */
export const READ_WHOLE_SCRIPT = `${PRELUDE}
existing_file "$2"
head -c "$3" -- "$real"
`;

/** $2 path; stdin: the content. Creates missing folders; replaces the file's content in place. */
export const WRITE_SCRIPT = `${PRELUDE}
resolve "$2"
[ -d "$real" ] && fail "$2 is a directory"
[ -e "$real" ] && [ ! -f "$real" ] && fail "$2 exists and is not a regular file"
mkdir -p -- "\${real%/*}" || fail "cannot create the folder of $2"
cat > "$real" || fail "cannot write $2"
`;

/**
 * $2 path, $3 sha256 of the content edit_file read; stdin: the new content. Refuses when the file
 * changed since it was read (a concurrent command), rather than overwriting that change.
 */
export const REPLACE_SCRIPT = `${PRELUDE}
existing_file "$2"
sum=$(sha256sum < "$real") || fail "cannot read $2"
[ "\${sum%% *}" = "$3" ] || fail "$2 changed while it was being edited; read it again"
cat > "$real" || fail "cannot write $2"
`;

/**
 * $2 folder, $3 most entries: NUL-terminated absolute paths, folders with a trailing slash, .git
 * pruned. \`head\` closing the pipe ends find early, so a huge tree costs no more than the cap.
 */
export const LIST_SCRIPT = `${PRELUDE}
resolve "$2"
[ -e "$real" ] || fail "$2 does not exist"
[ -d "$real" ] || fail "$2 is not a directory"
find "$real" -mindepth 1 -name .git -prune -o -type d -printf '%p/\\0' -o -printf '%p\\0' | head -z -n "$3"
`;

/**
 * $2 file or folder, $3 -F (fixed string) or -E (extended regex), $4 pattern, $5 most lines,
 * $6 most characters per line: \`path:line:text\` for each match, binary files, .git, FIFOs and
 * devices skipped (a FIFO would block the search until its timeout).
 */
export const SEARCH_SCRIPT = `${PRELUDE}
resolve "$2"
[ -e "$real" ] || fail "$2 does not exist"
grep -rnHI -D skip --exclude-dir=.git "$3" -e "$4" -- "$real" | cut -c "1-$6" | head -n "$5"
`;
