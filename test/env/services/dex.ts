// Dex (github.com/dexidp/dex), built from the Go module proxy: a real OpenID Connect provider for
// the login tests. `testEnv.dex()` only builds it (cached like the other binaries; a prebuilt
// `dex` in KUBEQA_TESTENV_BIN is used instead); each test starts its own instance with
// `startDex`, because the client's redirect URI (the test server's port) is part of Dex's config.
// Storage is in memory; users log in through the static password database, and a second
// connector ("mock", Dex's mockCallback) logs in a fixed user with groups without a form.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binary, DEX_VERSION, dexSpec } from '../binaries.js';
import { freePort } from '../ports.js';
import { spawnService, waitUntilReady } from '../processes.js';

export interface DexInfo {
  dex: string;
  version: string;
}

export async function prepareDex(log?: (line: string) => void): Promise<{ info: DexInfo }> {
  return { info: { dex: await binary(dexSpec, log), version: DEX_VERSION } };
}

/** bcrypt of "password" (cost 10): Dex's static passwords are bcrypt hashes. */
export const DEX_PASSWORD = 'password';
const DEX_PASSWORD_HASH = '$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W';

export interface DexUser {
  email: string;
  username: string;
  userID: string;
}

export interface DexClient {
  id: string;
  /** Absent: a public client. */
  secret?: string;
  redirectURIs: string[];
}

export interface RunningDex {
  /** The issuer URL (http://127.0.0.1:<port>/dex). */
  issuer: string;
  stop(): Promise<void>;
}

export async function startDex(
  dex: DexInfo,
  options: { clients: DexClient[]; users: DexUser[] },
): Promise<RunningDex> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-dex-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}/dex`;
  // JSON is YAML: Dex reads it as is
  const config = {
    issuer,
    storage: { type: 'memory' },
    web: { http: `127.0.0.1:${port}` },
    logger: { level: 'info' },
    oauth2: { skipApprovalScreen: true, responseTypes: ['code'] },
    enablePasswordDB: true,
    staticClients: options.clients.map((c) => ({
      id: c.id,
      name: c.id,
      redirectURIs: c.redirectURIs,
      ...(c.secret ? { secret: c.secret } : { public: true }),
    })),
    staticPasswords: options.users.map((u) => ({ ...u, hash: DEX_PASSWORD_HASH })),
    connectors: [{ type: 'mockCallback', id: 'mock', name: 'Mock' }],
  };
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const proc = spawnService(`dex-${port}`, dex.dex, ['serve', configPath], { cwd: dir });
  await waitUntilReady(proc, 'the discovery document answers', async () => {
    const response = await fetch(`${issuer}/.well-known/openid-configuration`);
    return response.ok;
  });
  return {
    issuer,
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
