// Gathers the facts for decideAccelerator(): /dev/kvm, CPU flags, and a probe guest run under
// KVM and under TCG. The probe is a 512-byte boot sector (source below) that switches to 64-bit
// long mode with paging, writes "RL" to the serial port and exits QEMU through isa-debug-exit;
// it takes ~0.1 s under TCG. The result is kept for the life of the process.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Accelerator,
  type AcceleratorDecision,
  type AcceleratorFacts,
  decideAccelerator,
  type ProbeResult,
  probesNeeded,
} from './accelerator.js';

// nasm source of PROBE_CODE (bits 16, org 0x7c00): cli; zero segments; out 'R' to 0x3f8;
// build PML4/PDPT/PD at 0x1000..0x3000 identity-mapping 2 MiB; lgdt; CR4.PAE; CR3; EFER.LME;
// CR0.PG|PE; far jump to a 64-bit code segment; out 'L' and '\n' to 0x3f8; out 0x10 to port
// 0xf4 (QEMU exits with status (0x10 << 1) | 1 = 33); hlt loop; GDT: null, 64-bit code, data.
const PROBE_CODE =
  'fa31c08ed88ec08ed0bc007cbaf803b052eebf0010b9001831c0f3ab66c70600100320000066c7060020033000' +
  '0066c7060030830000000f0116a87c0f20e06683c8200f22e066b8001000000f22d866b9800000c00f32660d00' +
  '0100000f300f20c0660d010000800f22c0ea707c080066b810008ed88ed066baf803b04ceeb00aee66baf400b0' +
  '10eef4ebfd90909090000000000000000000000000009a200000000000009200001700907c';
const PROBE_EXIT_STATUS = 33;

/** The probe boot sector: code, zero padding, 0x55 0xAA. */
export function probeImage(): Buffer {
  const image = Buffer.alloc(512);
  Buffer.from(PROBE_CODE, 'hex').copy(image);
  image[510] = 0x55;
  image[511] = 0xaa;
  return image;
}

export function readCpuFlags(cpuinfo = '/proc/cpuinfo'): Set<string> {
  try {
    const line = readFileSync(cpuinfo, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/).filter(Boolean));
  } catch {
    return new Set();
  }
}

export function devKvmState(path = '/dev/kvm'): AcceleratorFacts['devKvm'] {
  if (!existsSync(path)) return 'absent';
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return 'ok';
  } catch {
    return 'no-access';
  }
}

/** Run the probe guest under one accelerator; never throws. */
export function runProbe(
  accel: Accelerator,
  qemu = 'qemu-system-x86_64',
  timeoutMs = 10_000,
): Promise<ProbeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-kvm-probe-'));
  const image = join(dir, 'probe.img');
  writeFileSync(image, probeImage());
  const started = Date.now();
  const args = [
    '-accel',
    accel,
    '-m',
    '16',
    '-display',
    'none',
    '-monitor',
    'none',
    '-serial',
    'stdio',
    '-nodefaults',
    '-device',
    'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-drive',
    `file=${image},format=raw,if=floppy`,
    '-boot',
    'a',
    '-no-reboot',
  ];
  return new Promise((resolve) => {
    execFile(qemu, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      rmSync(dir, { recursive: true, force: true });
      const ms = Date.now() - started;
      const status = (error as { code?: unknown } | null)?.code;
      if (stdout.includes('RL') && status === PROBE_EXIT_STATUS) return resolve({ ok: true, ms });
      const why = (error as { killed?: boolean } | null)?.killed
        ? `no answer within ${timeoutMs} ms`
        : stderr.trim().split('\n').pop() || error?.message || `exit status ${String(status)}`;
      resolve({ ok: false, ms, error: why });
    });
  });
}

let cached: Promise<AcceleratorDecision> | undefined;

/**
 * Decide between KVM and TCG for this host (memoised). `QEMU_NO_KVM=1` forces TCG.
 * `log` receives the one-line reason, which callers should log at info level.
 */
export async function detectAccelerator(
  options: { qemu?: string; log?: (line: string) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<AcceleratorDecision> {
  const env = options.env ?? process.env;
  cached ??= (async () => {
    const facts: AcceleratorFacts = {
      forceTcg: env.QEMU_NO_KVM === '1' || env.QEMU_NO_KVM === 'true',
      devKvm: devKvmState(),
      cpuFlags: readCpuFlags(),
    };
    const needed = probesNeeded(facts);
    if (needed.kvm) facts.kvmProbe = await runProbe('kvm', options.qemu);
    if (needed.tcg) facts.tcgProbe = await runProbe('tcg', options.qemu);
    return decideAccelerator(facts);
  })();
  const decision = await cached;
  options.log?.(`accelerator: ${decision.accel}: ${decision.reason}`);
  return decision;
}
