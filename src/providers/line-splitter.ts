import { StringDecoder } from 'node:string_decoder';

/**
 * Cuts a byte stream into lines, each keeping its newline; a very long line without one is
 * passed on in pieces so that a progress bar cannot grow memory without bound.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineChars = 16 * 1024,
  ) {}

  write(chunk: Buffer): void {
    this.buffer += this.decoder.write(chunk);
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      this.onLine(this.buffer.slice(0, newline + 1));
      this.buffer = this.buffer.slice(newline + 1);
      newline = this.buffer.indexOf('\n');
    }
    if (this.buffer.length >= this.maxLineChars) {
      this.onLine(this.buffer);
      this.buffer = '';
    }
  }

  /** The last line, when the stream ended without a newline. */
  end(): void {
    this.buffer += this.decoder.end();
    if (this.buffer) this.onLine(this.buffer);
    this.buffer = '';
  }
}
