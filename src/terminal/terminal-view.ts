import { z } from 'zod';
import { stripTerminalControls } from '../text';
import type { RunwayEvent as ReceivedEvent } from '../../packages/client/src/index';

const statusData = z.object({ status: z.string(), step: z.string().optional() });
const progressData = z.object({
  step: z.string(),
  message: z.string().optional(),
  pct: z.number().optional(),
  outputTokens: z.number().optional(),
});
const deltaData = z.object({ text: z.string() });
const logData = z.object({ stream: z.string(), line: z.string() });
const usageData = z.object({ inputTokens: z.number(), outputTokens: z.number() });
const errorData = z.object({ code: z.string(), message: z.string() });
const resetData = z.object({ attempt: z.number().optional(), reason: z.string().optional() });
const endData = z.object({ status: z.string() });

interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * Renders a run's events on a terminal: the output on stdout as it arrives, everything else on
 * stderr, with one self-replacing progress line while the run is queued or preparing (a plain
 * line per change when stderr is not a terminal). Everything shown comes from the run (model
 * output, agent logs, errors) and is hostile: escape sequences could rewrite the screen, retitle
 * the window or plant text in the clipboard, so they and control characters are stripped.
 */
export class TerminalView {
  /** The terminal status, once `end` has arrived. */
  endStatus: string | undefined;
  private progressShown = false;
  private lastProgress = '';
  private outputStarted = false;
  private outputEndsWithNewline = true;
  private usage: z.infer<typeof usageData> | undefined;

  constructor(
    private readonly stdout: Out,
    private readonly stderr: Out,
  ) {}

  handle(event: ReceivedEvent): void {
    switch (event.type) {
      case 'status': {
        const d = statusData.safeParse(event.data);
        if (!d.success) return;
        if (d.data.status === 'stopping') this.note('stopping…');
        else if (['queued', 'preparing', 'running'].includes(d.data.status)) this.progress(d.data.status);
        return;
      }
      case 'progress': {
        const d = progressData.safeParse(event.data);
        if (!d.success || (this.outputStarted && d.data.step === 'execute')) return;
        const pct = d.data.pct !== undefined ? ` ${Math.round(d.data.pct)}%` : '';
        const tokens = d.data.outputTokens !== undefined ? ` (${d.data.outputTokens} tokens)` : '';
        this.progress(`${d.data.step}: ${d.data.message ?? ''}${pct}${tokens}`);
        return;
      }
      case 'delta': {
        const d = deltaData.safeParse(event.data);
        const text = d.success ? stripTerminalControls(d.data.text) : '';
        if (text === '') return;
        this.clearProgress();
        this.outputStarted = true;
        this.stdout.write(text);
        this.outputEndsWithNewline = text.endsWith('\n');
        return;
      }
      case 'log': {
        const d = logData.safeParse(event.data);
        if (d.success) this.note(`[${d.data.stream}] ${d.data.line}`);
        return;
      }
      case 'reset': {
        // The run's output is the last attempt's text: what was printed before it is void.
        const d = resetData.safeParse(event.data);
        this.finishOutputLine();
        this.note(`↺ attempt ${d.success ? (d.data.attempt ?? '?') : '?'} starts the output over (the previous attempt failed)`);
        this.outputStarted = false;
        return;
      }
      case 'usage': {
        const d = usageData.safeParse(event.data);
        if (d.success) this.usage = d.data;
        return;
      }
      case 'error': {
        const d = errorData.safeParse(event.data);
        if (d.success) {
          this.finishOutputLine();
          this.note(`error ${d.data.code}: ${d.data.message}`);
        }
        return;
      }
      case 'end': {
        const d = endData.safeParse(event.data);
        this.endStatus = d.success ? d.data.status : 'unknown';
        this.finishOutputLine();
        const usage = this.usage ? ` · ${this.usage.inputTokens} in / ${this.usage.outputTokens} out tokens` : '';
        this.note(`${this.endStatus === 'succeeded' ? '✔' : '✖'} ${this.endStatus}${usage}`);
        return;
      }
    }
  }

  /** A line on stderr, after clearing the progress line and ending a partial output line. */
  note(text: string): void {
    this.clearProgress();
    // On a shared terminal, a note must not be glued to a partial output line.
    if (!this.outputEndsWithNewline && this.stdout.isTTY && this.stderr.isTTY) this.stderr.write('\n');
    if (this.stdout.isTTY && this.stderr.isTTY) this.outputEndsWithNewline = true;
    this.stderr.write(`${stripTerminalControls(text)}\n`);
  }

  private progress(raw: string): void {
    const text = stripTerminalControls(raw).replaceAll('\n', ' ');
    if (text === this.lastProgress) return;
    this.lastProgress = text;
    if (this.outputStarted) return;
    if (this.stderr.isTTY) {
      this.stderr.write(`\r\x1b[K⋯ ${text}`);
      this.progressShown = true;
    } else {
      this.stderr.write(`⋯ ${text}\n`);
    }
  }

  clearProgress(): void {
    if (!this.progressShown) return;
    this.stderr.write('\r\x1b[K');
    this.progressShown = false;
  }

  private finishOutputLine(): void {
    if (this.outputStarted && !this.outputEndsWithNewline) this.stdout.write('\n');
    this.outputEndsWithNewline = true;
  }
}
