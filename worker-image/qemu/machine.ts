// The QEMU backend: prepares disks (qcow2 overlays on read-only bases), firmware and sockets,
// starts QEMU paused in its own process group tied to this process's life, connects QMP, VNC
// and both serial ports, then lets the guest run. stop() ends it cleanly (QMP quit, then
// signals); QEMU never outlives the runner (see runtime/process-group.ts).
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { KubeqaError } from '../../domain/errors.js';
import { type JobSettings, type QemuConfig, qemuConfig } from '../../domain/runner/settings.js';
import { type GroupChild, spawnInGroup, which } from '../../runtime/process-group.js';
import { SerialConsole } from '../serial/console.js';
import { VncClient } from '../vnc/client.js';
import { buildQemuArgv } from './argv.js';
import { detectAccelerator } from './kvm-probe.js';
import { QmpClient } from './qmp.js';

const run = promisify(execFile);

export interface MachineOptions {
  settings: JobSettings;
  /** Where overlays, firmware copies, qemu.log and serial0.txt go. */
  workDir: string;
  /** Path of serial0.txt (default workDir/serial0.txt). */
  serialLog?: string;
  log?: (line: string) => void;
  /** Called once if QEMU exits on its own (crash, or -no-shutdown not honoured). */
  onUnexpectedExit?: (why: string) => void;
}

export interface Machine {
  config: QemuConfig;
  argv: string[];
  accel: 'kvm' | 'tcg';
  qmp: QmpClient;
  vnc: VncClient;
  serial0: SerialConsole;
  serial1: SerialConsole;
  process: GroupChild;
  qemuLog: string;
  /** End QEMU (QMP quit, then SIGTERM/SIGKILL to its group); idempotent. */
  stop(): Promise<void>;
}

function requireTool(name: string, pkg: string): string {
  const found = which(name);
  if (!found) {
    throw new KubeqaError(
      'KQ_ERR_MISSING_TOOL',
      `the command '${name}' is not installed`,
      `apt-get install -y ${pkg}`,
    );
  }
  return found;
}

function requireInput(key: string, path: string): string {
  const absolute = resolve(path);
  if (!existsSync(absolute) || !statSync(absolute).isFile()) {
    throw new KubeqaError(
      'KQ_ERR_NOT_FOUND',
      `setting ${key}: file ${path} does not exist`,
      `fix ${key} or provide the file`,
    );
  }
  return absolute;
}

async function imageFormat(qemuImg: string, path: string): Promise<string> {
  const { stdout } = await run(qemuImg, ['info', '--output=json', path]);
  const info = JSON.parse(stdout) as { format?: string };
  if (!info.format)
    throw new KubeqaError('KQ_ERR_INVALID_SETTING', `cannot tell the image format of ${path}`);
  return info.format;
}

/** Create the disks: an overlay on each base (never a copy of it), a blank qcow2 otherwise. */
export async function prepareDisks(config: QemuConfig, dir: string, qemuImg: string): Promise<string[]> {
  const paths: string[] = [];
  for (const disk of config.disks) {
    const overlay = join(dir, `hd${disk.index}.qcow2`);
    if (disk.base) {
      const base = requireInput(`HDD_${disk.index}`, disk.base);
      const format = await imageFormat(qemuImg, base);
      await run(qemuImg, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', format, overlay]);
    } else {
      await run(qemuImg, ['create', '-q', '-f', 'qcow2', overlay, `${disk.sizeGb}G`]);
    }
    paths.push(overlay);
  }
  return paths;
}

async function waitForFiles(
  paths: string[],
  child: GroupChild,
  logPath: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!paths.every((p) => existsSync(p))) {
    if (child.hasExited()) {
      throw new KubeqaError(
        'KQ_ERR_QEMU',
        `QEMU exited at start: ${tail(logPath)}`,
        'check the job settings',
      );
    }
    if (Date.now() > deadline) {
      throw new KubeqaError(
        'KQ_ERR_QEMU',
        `QEMU did not open its sockets within ${timeoutMs} ms: ${tail(logPath)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits for `work`, at most `ms`. The timer is cleared as soon as `work` settles: a timer left
 * pending would keep the process alive (the runner used to linger 3 s after QEMU had quit).
 */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function tail(path: string, lines = 10): string {
  try {
    return readFileSync(path, 'utf8').trim().split('\n').slice(-lines).join(' | ') || '(no output)';
  } catch {
    return '(no output)';
  }
}

export async function startMachine(options: MachineOptions): Promise<Machine> {
  const log = options.log ?? (() => undefined);
  const config = qemuConfig(options.settings);
  const qemu = requireTool('qemu-system-x86_64', 'qemu-system-x86');
  const qemuImg = requireTool('qemu-img', 'qemu-utils');
  if (config.iso) config.iso = requireInput('ISO', config.iso);
  if (config.kernel) config.kernel = requireInput('KERNEL', config.kernel);
  if (config.initrd) config.initrd = requireInput('INITRD', config.initrd);
  const env = config.noKvm ? { ...process.env, QEMU_NO_KVM: '1' } : process.env;
  const decision = config.noKvm
    ? { accel: 'tcg' as const, reason: 'software emulation (TCG) forced by QEMU_NO_KVM' }
    : await detectAccelerator({ qemu, env });
  log(`accelerator: ${decision.accel}: ${decision.reason}`);
  const disks = await prepareDisks(config, options.workDir, qemuImg);
  let uefiCode: string | undefined;
  let uefiVars: string | undefined;
  if (config.uefi) {
    uefiCode = config.uefiCode
      ? requireInput('UEFI_PFLASH_CODE', config.uefiCode)
      : ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE.fd'].find((p) => existsSync(p));
    const varsTemplate = config.uefiVars
      ? requireInput('UEFI_PFLASH_VARS', config.uefiVars)
      : ['/usr/share/OVMF/OVMF_VARS_4M.fd', '/usr/share/OVMF/OVMF_VARS.fd'].find((p) => existsSync(p));
    if (!uefiCode || !varsTemplate) {
      throw new KubeqaError(
        'KQ_ERR_MISSING_TOOL',
        'UEFI=1 needs the OVMF firmware',
        'apt-get install -y ovmf',
      );
    }
    // The variables store is written by the firmware: each job gets its own small copy.
    uefiVars = join(options.workDir, 'uefi-vars.fd');
    copyFileSync(varsTemplate, uefiVars);
  }
  // Unix socket paths are limited to 108 bytes: keep them in a short temporary directory.
  const sockDir = mkdtempSync(join(tmpdir(), 'kq-vm-'));
  const qmpSocket = join(sockDir, 'qmp');
  const vncSocket = join(sockDir, 'vnc');
  const serialSockets: [string, string] = [join(sockDir, 'serial0'), join(sockDir, 'serial1')];
  const argv = buildQemuArgv(config, {
    accel: decision.accel,
    qmpSocket,
    vncSocket,
    serialSockets,
    disks,
    ...(uefiCode ? { uefiCode } : {}),
    ...(uefiVars ? { uefiVars } : {}),
  });
  const qemuLog = join(options.workDir, 'qemu.log');
  log(`starting ${qemu} ${argv.join(' ')}`);
  const child = spawnInGroup(qemu, argv, { cwd: options.workDir, logFile: qemuLog });
  let stopping = false;
  const cleanup = () => rmSync(sockDir, { recursive: true, force: true });
  void child.exited.then((exit) => {
    cleanup();
    if (!stopping) {
      options.onUnexpectedExit?.(
        `QEMU exited unexpectedly (code ${exit.code ?? '-'}, signal ${exit.signal ?? '-'}): ${tail(qemuLog)}`,
      );
    }
  });
  try {
    await waitForFiles([qmpSocket, vncSocket, ...serialSockets], child, qemuLog, 30_000);
    const qmp = await QmpClient.connect(qmpSocket);
    const serial0 = await SerialConsole.connect(
      serialSockets[0],
      options.serialLog ?? join(options.workDir, 'serial0.txt'),
    );
    const serial1 = await SerialConsole.connect(serialSockets[1]);
    // on demand: frames are requested only while a test step, the video or the live view needs
    // them (docs/runner.md, "Screen updates")
    const vnc = await VncClient.connect(vncSocket, {
      updateIntervalMs: config.vncUpdateIntervalMs,
      requests: 'on-demand',
    });
    await qmp.cont();
    const machine: Machine = {
      config,
      argv,
      accel: decision.accel,
      qmp,
      vnc,
      serial0,
      serial1,
      process: child,
      qemuLog,
      async stop() {
        if (stopping && child.hasExited()) return;
        stopping = true;
        if (!child.hasExited() && !qmp.isClosed) {
          await within(
            qmp.quit().catch(() => undefined),
            2000,
          );
        }
        await within(child.exited, 3000);
        await child.stop(3000);
        vnc.close();
        qmp.close();
        await serial0.close();
        await serial1.close();
        cleanup();
      },
    };
    return machine;
  } catch (error) {
    stopping = true;
    await child.stop(1000);
    cleanup();
    throw error;
  }
}
