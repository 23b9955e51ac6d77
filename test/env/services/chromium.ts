// Debian's Chromium, driven by playwright-core, shared by the browser tests of one run.
import { chromium } from 'playwright-core';
import { registerExternal } from '../processes.js';
import { requireCommand } from '../system.js';

export interface ChromiumInfo {
  executablePath: string;
  /** playwright-core: chromium.connect(wsEndpoint) */
  wsEndpoint: string;
}

/** Flags for a closed network: without the background-networking ones Chromium keeps dialling out. */
export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function startChromium(): Promise<{
  info: ChromiumInfo;
  pids: number[];
  stop: () => Promise<void>;
}> {
  const executablePath = requireCommand('chromium', ['chromium']);
  const server = await chromium.launchServer({ executablePath, args: CHROMIUM_ARGS, headless: true });
  const pid = server.process().pid;
  const forget = pid === undefined ? () => {} : registerExternal('chromium', pid);
  return {
    info: { executablePath, wsEndpoint: server.wsEndpoint() },
    pids: pid === undefined ? [] : [pid],
    async stop() {
      await server.close();
      forget();
    },
  };
}
