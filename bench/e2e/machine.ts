/** The machine description printed at the top of every bench run and recorded with the results. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

function firstLine(cmd: string, args: string[]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n').find((l) => l.trim() !== '')?.trim() ?? '?';
  } catch (err) {
    return `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
}

export interface Machine {
  date: string;
  nproc: string;
  cpuModel: string;
  memory: string;
  kernel: string;
  node: string;
  mariadbd: string;
  sysbench: string;
  haproxy: string;
  loadAvg: string;
}

export function describeMachine(): Machine {
  let cpuModel = cpus()[0]?.model ?? '?';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    /* keep os.cpus() answer */
  }
  return {
    date: new Date().toISOString(),
    nproc: firstLine('nproc', []),
    cpuModel,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: firstLine('uname', ['-sr']),
    node: process.version,
    mariadbd: firstLine('/usr/sbin/mariadbd', ['--version']),
    sysbench: firstLine('/usr/bin/sysbench', ['--version']),
    haproxy: existsSync('/usr/sbin/haproxy') ? firstLine('/usr/sbin/haproxy', ['-v']) : 'not installed',
    loadAvg: currentLoad(),
  };
}

/** 1/5/15-minute load averages, to judge how much other work shared the cores. */
export function currentLoad(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' / ');
}

export function machineLines(m: Machine): string[] {
  return [
    `date:      ${m.date}`,
    `cpu:       ${m.nproc} × ${m.cpuModel}`,
    `memory:    ${m.memory}`,
    `kernel:    ${m.kernel}`,
    `node:      ${m.node}`,
    `mariadbd:  ${m.mariadbd}`,
    `sysbench:  ${m.sysbench}`,
    `haproxy:   ${m.haproxy}`,
    `load avg at start (1/5/15 min): ${m.loadAvg}`,
  ];
}
