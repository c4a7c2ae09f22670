import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config-error';

/**
 * The value in `file`, or a new one written there. The new value goes to a temporary file of
 * the same folder (mode 600, synced) that is then hard-linked into place: the link appears with
 * its whole content, and fails when the file already exists. So processes starting together all
 * end up with the first one's value, none ever reads an empty or partial file, and an existing
 * file is never replaced (which would change a key other processes already use).
 */
export function readOrCreateSecretFile(file: string, make: () => string, valid: (value: string) => boolean): string {
  const read = () => {
    const value = readFileSync(file, 'utf8').trim();
    if (!valid(value)) throw new ConfigError(`Invalid configuration:\n  ${file} does not hold a valid value; remove it to generate a new one`);
    return value;
  };
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const value = make();
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${value}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
    return value;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return read(); // another process linked its value first: use that one
  } finally {
    unlinkSync(temp);
  }
}
