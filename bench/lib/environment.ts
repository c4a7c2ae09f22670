import os from 'node:os';
import { busiestProcesses } from './proc-stats';

export interface EnvironmentSnapshot {
  at: string;
  loadAverage: { '1m': number; '5m': number; '15m': number };
  /** Processes using CPU at that moment (other engineers' test suites, typically). */
  busiestProcesses: string[];
}

export function machineInfo() {
  return {
    hostname: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryMb: Math.round(os.totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function snapshot(): EnvironmentSnapshot {
  const [one, five, fifteen] = os.loadavg();
  const round = (v = 0) => Math.round(v * 100) / 100;
  return { at: new Date().toISOString(), loadAverage: { '1m': round(one), '5m': round(five), '15m': round(fifteen) }, busiestProcesses: busiestProcesses() };
}

export function formatSnapshot(label: string, s: EnvironmentSnapshot): string {
  const load = `${s.loadAverage['1m']}, ${s.loadAverage['5m']}, ${s.loadAverage['15m']}`;
  return [`${label}: load average ${load}`, ...s.busiestProcesses.map((p) => `  ${p}`)].join('\n');
}
