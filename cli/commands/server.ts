// `kubeqa server`: the web UI/API as deployed (PostgreSQL, result files in S3 or a directory).
// Applies the migrations at start under an advisory lock, so several replicas start safely.
import { mkdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openPostgres } from '../../db/connect.js';
import { migrateExclusively } from '../../db/migrate.js';
import { ensureUser, setPassword } from '../../db/users.js';
import { createLogger } from '../../runtime/logger.js';
import { buildApp } from '../../webui/app.js';
import { assetOptionsFromEnv } from '../../webui/assets/server-assets.js';
import { s3BlobStore } from '../../webui/blob-store.js';
import { healthRoute } from '../../webui/health.js';
import { SERVER_ENV, serverConfigFromEnv } from '../../webui/server-config.js';
import type { Command } from '../command.js';
import { parsePort, untilStopSignal } from '../process-helpers.js';

const HELP = `usage: kubeqa server [--host 0.0.0.0] [--port 9526]

Runs kubeqa's web UI and API against PostgreSQL. Configuration from the environment:
${Object.entries(SERVER_ENV)
  .map(([name, meaning]) => `  ${name.padEnd(24)} ${meaning}`)
  .join('\n')}
`;

export const serverCommand: Command = {
  name: 'server',
  summary: 'run the web UI and API against PostgreSQL (as deployed)',
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        host: { type: 'string', default: '0.0.0.0' },
        port: { type: 'string', default: '9526' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const port = parsePort(values.port);
    const config = serverConfigFromEnv();
    const log = createLogger('kubeqa-server');
    if (config.oidc) {
      log.info({ issuer: config.oidc.issuer, clientId: config.oidc.clientId }, 'OIDC login enabled');
      if (config.oidcStateKeyIsRandom)
        log.warn(
          'OIDC: no client secret and no KUBEQA_OIDC_STATE_SECRET: a login must finish on the replica that started it',
        );
    }
    const database = openPostgres({ url: config.databaseUrl, max: 20 });
    await migrateExclusively(config.databaseUrl);
    if (config.admin) {
      const userId = await ensureUser(database.query, config.admin.user, 'admin');
      await database.query("update users set role = 'admin' where id = $1", [userId]);
      await setPassword(database.query, userId, config.admin.password);
    }
    if (!config.s3) mkdirSync(config.blobDir, { recursive: true });
    const app = await buildApp({
      database,
      log,
      ...(config.s3 ? { blobStore: s3BlobStore(config.s3) } : { blobDir: config.blobDir }),
      ...(config.oidc ? { oidc: config.oidc } : {}),
      assets: assetOptionsFromEnv(process.env, log),
    });
    healthRoute(app, database);
    const url = await app.listen({ host: values.host, port });
    log.info({ url }, 'kubeqa server listening');
    process.stdout.write(`kubeqa server: ${url}\n`);
    await untilStopSignal();
    await app.close();
    await database.close();
    return 0;
  },
};
