// The services the test environment can provide, and how each is started and stopped.
import { rmSync } from 'node:fs';
import type { ManagedProcess } from '../processes.js';
import { type ChromiumInfo, startChromium } from './chromium.js';
import { type DexInfo, prepareDex } from './dex.js';
import { type HelmInfo, prepareHelm } from './helm.js';
import { type KubeInfo, startKube } from './kube.js';
import { type MinioInfo, startMinio } from './minio.js';
import { type PostgresInfo, startPostgres } from './postgres.js';
import { prepareQemu, type QemuInfo } from './qemu.js';

export interface ServiceInfoMap {
  postgres: PostgresInfo;
  minio: MinioInfo;
  kube: KubeInfo;
  helm: HelmInfo;
  qemu: QemuInfo;
  chromium: ChromiumInfo;
  dex: DexInfo;
}

export type ServiceName = keyof ServiceInfoMap;
export const SERVICE_NAMES: ServiceName[] = ['postgres', 'minio', 'kube', 'helm', 'qemu', 'chromium', 'dex'];

export interface StartedService<T> {
  info: T;
  /** Processes it runs (for status and for the orphan tests). */
  pids?: number[];
  stop(): Promise<void>;
}

function managed<T>(info: T, procs: ManagedProcess[], dirs: string[]): StartedService<T> {
  return {
    info,
    pids: procs.map((proc) => proc.pid),
    async stop() {
      for (const proc of procs) await proc.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
}

const noop = async () => {};

export const starters: {
  [K in ServiceName]: (log: (line: string) => void) => Promise<StartedService<ServiceInfoMap[K]>>;
} = {
  async postgres() {
    const { info, proc, dir } = await startPostgres();
    return managed(info, [proc], [dir]);
  },
  async minio(log) {
    const { info, proc, dir } = await startMinio(log);
    return managed(info, [proc], [dir]);
  },
  async kube(log) {
    const { info, procs, dir } = await startKube(log);
    return managed(info, procs, [dir]);
  },
  async helm(log) {
    return { ...(await prepareHelm(log)), stop: noop };
  },
  async qemu(log) {
    return { ...(await prepareQemu(log)), stop: noop };
  },
  async chromium() {
    return startChromium();
  },
  async dex(log) {
    return { ...(await prepareDex(log)), stop: noop };
  },
};

export function isServiceName(name: string): name is ServiceName {
  return (SERVICE_NAMES as string[]).includes(name);
}
