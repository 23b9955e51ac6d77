// Job settings as the runner reads them: openQA's names (QEMUCPUS, QEMURAM, ISO, HDD_1, …),
// validated into a typed QEMU configuration. Pure: no I/O. Every bad value is a KubeqaError
// naming the setting, what it got and what it accepts.
import { KubeqaError } from '../errors.js';

/** A job's settings: upper-case keys, string values (as openQA stores them). */
export type JobSettings = Record<string, string>;

/** Extra devices a job may ask for (QEMU_DEVICES=a,b): never raw QEMU arguments. */
export const ALLOWED_DEVICES = {
  'virtio-rng': ['-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', 'virtio-rng-pci,rng=rng0'],
  'virtio-balloon': ['-device', 'virtio-balloon-pci'],
  'usb-kbd': ['-device', 'usb-kbd,bus=xhci0.0'],
  'usb-mouse': ['-device', 'usb-mouse,bus=xhci0.0'],
  'intel-hda': ['-device', 'intel-hda', '-device', 'hda-duplex'],
  watchdog: ['-device', 'i6300esb'],
  pvpanic: ['-device', 'pvpanic'],
} as const satisfies Record<string, readonly string[]>;
export type AllowedDevice = keyof typeof ALLOWED_DEVICES;

export const VGA_TYPES = ['std', 'virtio', 'cirrus', 'qxl', 'none'] as const;
export type VgaType = (typeof VGA_TYPES)[number];

export interface DiskConfig {
  /** 1-based, as HDD_1. */
  index: number;
  /** Base image (read-only; an overlay is written on top), or undefined for a blank disk. */
  base?: string;
  sizeGb: number;
}

export interface QemuConfig {
  cpu?: string;
  cpus: number;
  ramMb: number;
  machine?: string;
  vga: VgaType;
  xres: number;
  yres: number;
  iso?: string;
  disks: DiskConfig[];
  hddModel: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  uefi: boolean;
  uefiCode?: string;
  uefiVars?: string;
  nic: 'user' | 'none';
  nicModel: string;
  mac: string;
  bootMenu: boolean;
  bootFrom?: 'c' | 'd';
  tablet: boolean;
  devices: AllowedDevice[];
  noKvm: boolean;
  /** VNC_UPDATE_INTERVAL: least ms between the runner's screen update requests (0: none). */
  vncUpdateIntervalMs: number;
}

function invalid(key: string, value: string, expected: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_SETTING',
    `setting ${key}='${value}' is invalid: expected ${expected}`,
    `fix ${key} in the job's settings`,
  );
}

export function intSetting(
  settings: JobSettings,
  key: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = settings[key];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw invalid(key, raw, `a whole number from ${min} to ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw invalid(key, raw, `a whole number from ${min} to ${max}`);
  return value;
}

export function numberSetting(settings: JobSettings, key: string, fallback: number, min: number): number {
  const raw = settings[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) throw invalid(key, raw, `a number ≥ ${min}`);
  return value;
}

/** openQA's truthiness for flags: set, non-empty and not 0/false/no. */
export function boolSetting(settings: JobSettings, key: string, fallback = false): boolean {
  const raw = settings[key];
  if (raw === undefined || raw === '') return fallback;
  return !/^(0|false|no|off)$/i.test(raw.trim());
}

const TOKEN = /^[A-Za-z0-9_.+=-]+(,[A-Za-z0-9_.+=-]+)*$/;

function tokenSetting(settings: JobSettings, key: string): string | undefined {
  const raw = settings[key];
  if (raw === undefined || raw === '') return undefined;
  if (!TOKEN.test(raw))
    throw invalid(key, raw, 'a QEMU name such as qemu64 or host (letters, digits, _.+=-)');
  return raw;
}

function pathSetting(settings: JobSettings, key: string): string | undefined {
  const raw = settings[key];
  if (raw === undefined || raw === '') return undefined;
  if (raw.includes('\0') || raw.includes('\n')) throw invalid(key, raw, 'a file path');
  return raw;
}

/** Parse the settings that shape the virtual machine. */
export function qemuConfig(settings: JobSettings): QemuConfig {
  const vgaRaw = settings.QEMUVGA ?? 'std';
  if (!(VGA_TYPES as readonly string[]).includes(vgaRaw))
    throw invalid('QEMUVGA', vgaRaw, VGA_TYPES.join(', '));
  const numDisks = intSetting(settings, 'NUMDISKS', 1, 0, 16);
  const sizeGb = intSetting(settings, 'HDDSIZEGB', 10, 1, 16384);
  const disks: DiskConfig[] = [];
  for (let index = 1; index <= numDisks; index++) {
    const disk: DiskConfig = { index, sizeGb };
    const base = pathSetting(settings, `HDD_${index}`);
    if (base) disk.base = base;
    disks.push(disk);
  }
  for (const key of Object.keys(settings)) {
    const match = /^HDD_(\d+)$/.exec(key);
    if (match && Number(match[1]) > numDisks && settings[key]) {
      throw invalid(key, settings[key] ?? '', `a disk index within NUMDISKS=${numDisks} (raise NUMDISKS)`);
    }
  }
  const nicRaw = settings.NICTYPE ?? 'user';
  if (nicRaw !== 'user' && nicRaw !== 'none') {
    throw invalid(
      'NICTYPE',
      nicRaw,
      "'user' (user-mode networking) or 'none'; tap/vde are not supported yet",
    );
  }
  const devices: AllowedDevice[] = [];
  for (const name of (settings.QEMU_DEVICES ?? '').split(',').map((s) => s.trim())) {
    if (!name) continue;
    if (!Object.hasOwn(ALLOWED_DEVICES, name)) {
      throw invalid(
        'QEMU_DEVICES',
        name,
        `devices from the allow-list: ${Object.keys(ALLOWED_DEVICES).join(', ')}`,
      );
    }
    devices.push(name as AllowedDevice);
  }
  const bootFromRaw = settings.BOOTFROM;
  if (bootFromRaw !== undefined && bootFromRaw !== '' && bootFromRaw !== 'c' && bootFromRaw !== 'd') {
    throw invalid('BOOTFROM', bootFromRaw, "'c' (disk) or 'd' (cdrom)");
  }
  const mac = settings.NICMAC ?? '52:54:00:12:34:56';
  if (!/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) throw invalid('NICMAC', mac, 'a MAC address');
  const xres = intSetting(settings, 'XRES', 1024, 320, 8192);
  const yres = intSetting(settings, 'YRES', 768, 200, 8192);
  const kernel = pathSetting(settings, 'KERNEL');
  const initrd = pathSetting(settings, 'INITRD');
  const append = settings.APPEND;
  if ((initrd || append) && !kernel) {
    throw invalid(
      initrd ? 'INITRD' : 'APPEND',
      (initrd ?? append) as string,
      'to be used together with KERNEL',
    );
  }
  const config: QemuConfig = {
    cpus: intSetting(settings, 'QEMUCPUS', 1, 1, 256),
    ramMb: intSetting(settings, 'QEMURAM', 1024, 16, 1024 * 1024),
    vga: vgaRaw as VgaType,
    xres,
    yres,
    disks,
    hddModel: tokenSetting(settings, 'HDDMODEL') ?? 'virtio-blk',
    uefi: boolSetting(settings, 'UEFI'),
    nic: nicRaw,
    nicModel: tokenSetting(settings, 'NICMODEL') ?? 'virtio-net',
    mac,
    bootMenu: boolSetting(settings, 'BOOT_MENU'),
    tablet: !boolSetting(settings, 'QEMU_NO_TABLET'),
    devices,
    noKvm: boolSetting(settings, 'QEMU_NO_KVM'),
    vncUpdateIntervalMs: intSetting(settings, 'VNC_UPDATE_INTERVAL', 0, 0, 2000),
  };
  const cpu = tokenSetting(settings, 'QEMUCPU');
  if (cpu) config.cpu = cpu;
  const machine = tokenSetting(settings, 'QEMUMACHINE');
  if (machine) config.machine = machine;
  const iso = pathSetting(settings, 'ISO');
  if (iso) config.iso = iso;
  if (kernel) config.kernel = kernel;
  if (initrd) config.initrd = initrd;
  if (append !== undefined && append !== '') config.append = append;
  const code = pathSetting(settings, 'UEFI_PFLASH_CODE');
  if (code) config.uefiCode = code;
  const vars = pathSetting(settings, 'UEFI_PFLASH_VARS');
  if (vars) config.uefiVars = vars;
  if (bootFromRaw === 'c' || bootFromRaw === 'd') config.bootFrom = bootFromRaw;
  return config;
}

/** TIMEOUT_SCALE (default 1): every test API timeout is multiplied by it. */
export function timeoutScale(settings: JobSettings): number {
  const scale = numberSetting(settings, 'TIMEOUT_SCALE', 1, 0.01);
  return scale;
}
