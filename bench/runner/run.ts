// The Debian installer job end to end, kubeqa's runner against os-autoinst, side by side:
// boot the netboot installer under TCG, match the language screen, press Enter, match the
// location screen (the same needles, examples/debian-installer/needles, load in both).
//
//   npx tsx bench/runner/run.ts [rounds] [both|kubeqa|os-autoinst]   (default: 1 round of both, one job at a time)
//
// Prints one line per job and a table; figures go to docs/benchmarks.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { requireCommand } from '../../test/env/system.js';
import { debianInstallerNetboot } from '../../test/guests/busybox.js';

const root = resolve(import.meta.dirname, '../..');
// The kernel command line, the same setting for both jobs. The spaces at both ends are on purpose:
// os-autoinst 4.6 puts any -append value containing whitespace in single quotes and then runs QEMU
// without a shell, so the kernel receives the quotes literally. Without the spaces the last
// parameter would be `priority=high'`, which the installer does not recognise: it then shows its
// main menu instead of the language question and the job cannot pass. With them the quotes
// are parameters of their own (`'`), which the kernel hands to init and init ignores; for kubeqa
// (no quoting) the spaces change nothing.
export const APPEND = ' vga=788 console=ttyS0,115200 console=tty0 priority=high ';

function timed(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ seconds: number; code: number | null; output: string }> {
  const started = process.hrtime.bigint();
  return new Promise((done) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.once('exit', (code) =>
      done({ seconds: Number(process.hrtime.bigint() - started) / 1e9, code, output }),
    );
  });
}

async function kubeqaJob(): Promise<number> {
  const { kernel, initrd } = debianInstallerNetboot();
  const dir = mkdtempSync(join(tmpdir(), 'bench-kubeqa-'));
  const run = await timed(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'cli/main.ts'),
      'run',
      '--quiet',
      '--result-dir',
      join(dir, 'result'),
      `CASEDIR=${join(root, 'examples/debian-installer')}`,
      'SCHEDULE=installer/language,installer/location',
      `KERNEL=${kernel}`,
      `INITRD=${initrd}`,
      `APPEND=${APPEND}`,
      'QEMUCPUS=2',
      'QEMURAM=1024',
      'NUMDISKS=0',
      'NOVIDEO=1',
    ],
    root,
  );
  rmSync(dir, { recursive: true, force: true });
  if (run.code !== 0) throw new Error(`kubeqa run failed:\n${run.output}`);
  return run.seconds;
}

async function osAutoinstJob(): Promise<number> {
  const isotovideo = requireCommand('isotovideo', ['os-autoinst']);
  const { kernel, initrd } = debianInstallerNetboot();
  const pool = mkdtempSync(join(tmpdir(), 'bench-isotovideo-'));
  writeFileSync(
    join(pool, 'vars.json'),
    JSON.stringify({
      BACKEND: 'qemu',
      ARCH: 'x86_64',
      DISTRI: 'debian',
      CASEDIR: join(root, 'bench/runner/os-autoinst-distri'),
      NEEDLES_DIR: join(root, 'examples/debian-installer/needles'),
      PRODUCTDIR: join(root, 'bench/runner/os-autoinst-distri'),
      KERNEL: kernel,
      INITRD: initrd,
      APPEND,
      QEMUCPUS: 2,
      QEMURAM: 1024,
      NUMDISKS: 0,
      QEMU: 'x86_64', // qemu-system-x86_64: Debian's /usr/bin/kvm wrapper would force -enable-kvm
      QEMU_NO_KVM: 1,
      NOVIDEO: 1,
      VNC: 91,
    }),
  );
  const run = await timed(isotovideo, ['-d'], pool);
  // isotovideo's exit code is its own; the test's verdict is in the module results.
  const resultFile = join(pool, 'testresults', 'result-location.json');
  const verdict = existsSync(resultFile)
    ? (JSON.parse(readFileSync(resultFile, 'utf8')) as { result?: string }).result
    : undefined;
  if (run.code !== 0 || verdict !== 'ok') {
    throw new Error(
      `isotovideo did not pass (exit ${run.code}, location: ${verdict ?? 'not run'}); its files are in ${pool}`,
    );
  }
  rmSync(pool, { recursive: true, force: true });
  return run.seconds;
}

const rounds = Number(process.argv[2] ?? 1);
const which = process.argv[3] ?? 'both';
if (!Number.isInteger(rounds) || rounds < 1 || !['both', 'kubeqa', 'os-autoinst'].includes(which)) {
  throw new Error('usage: npx tsx bench/runner/run.ts [rounds ≥ 1] [both|kubeqa|os-autoinst]');
}
interface Row {
  name: string;
  job: () => Promise<number>;
  runs: { seconds: number; load: number }[];
}
const rows: Row[] = [
  { name: 'kubeqa run', job: kubeqaJob, runs: [] },
  { name: 'os-autoinst (isotovideo -d)', job: osAutoinstJob, runs: [] },
].filter((r) => which === 'both' || r.name.startsWith(which));
for (let i = 0; i < rounds; i++) {
  // Alternate which side goes first so a load change on the shared machine hits both alike.
  for (const row of i % 2 === 0 ? rows : [...rows].reverse()) {
    const seconds = await row.job();
    // The 1-minute load average when the job ended (the machine may be shared).
    const load = loadavg()[0] ?? Number.NaN;
    row.runs.push({ seconds, load });
    process.stdout.write(`round ${i + 1}: ${row.name} ${seconds.toFixed(1)} s (load ${load.toFixed(1)})\n`);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
process.stdout.write(
  '\n| job (boot → language → Enter → location) | median s | runs s (load average) |\n|---|---|---|\n',
);
for (const row of rows) {
  process.stdout.write(
    `| ${row.name} | ${median(row.runs.map((r) => r.seconds)).toFixed(1)} | ${row.runs
      .map((r) => `${r.seconds.toFixed(1)} (${r.load.toFixed(1)})`)
      .join(', ')} |\n`,
  );
}
