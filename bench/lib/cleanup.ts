/**
 * Everything a bench starts registers how to stop it here; `run()` stops it all in reverse order,
 * once, whether the bench finished, failed, or the process got SIGINT/SIGTERM.
 */
export class Cleanup {
  private readonly steps: { name: string; stop: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  add(name: string, stop: () => Promise<void>): void {
    this.steps.push({ name, stop });
  }

  run(log: (msg: string) => void = () => undefined): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.stop();
        } catch (err) {
          log(`cleanup of ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.running;
  }

  /** On SIGINT/SIGTERM: clean up, then exit with 130/143. */
  onSignals(log: (msg: string) => void): void {
    const handler = (signal: NodeJS.Signals) => {
      log(`${signal}: stopping everything the bench started`);
      void this.run(log).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    };
    process.once('SIGINT', handler);
    process.once('SIGTERM', handler);
  }
}
