// `kubeqa up`: the embedded default in one process. So far it brings up what exists: the
// embedded PostgreSQL (PGlite, on disk, migrated), the QEMU accelerator check, and the web server
// with the openQA-compatible API (/api/v1), /healthz and a status page. The API, the scheduler and the local runner join it
// as they land (see docs/development.md).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type OpenDatabase, openPglite } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { ensureLocalAdmin } from '../../db/users.js';
import { KubeqaError } from '../../domain/errors.js';
import { createLogger } from '../../runtime/logger.js';
import { dataHome } from '../../runtime/paths.js';
import { buildApp } from '../../webui/app.js';
import { healthRoute } from '../../webui/health.js';
import { detectAccelerator } from '../../worker-image/qemu/kvm-probe.js';
import type { Command } from '../command.js';
import { parsePort, untilStopSignal } from '../process-helpers.js';

const HELP = `usage: kubeqa up [--host 127.0.0.1] [--port 9526] [--data-dir DIR]

Starts kubeqa's embedded default in this process and prints its URL.
  --host      address to listen on (default 127.0.0.1)
  --port      port to listen on (default 9526, openQA's; 0 picks a free one)
  --data-dir  where the embedded database and assets live (default $KUBEQA_HOME or ~/.local/share/kubeqa)
`;

export const upCommand: Command = {
  name: 'up',
  summary: 'start the embedded default (database, API, web server) in one process',
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '9526' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const port = parsePort(values.port);
    const log = createLogger('kubeqa-up');
    const dataDir = values['data-dir'] ?? dataHome();
    mkdirSync(dataDir, { recursive: true });
    const dbDir = join(dataDir, 'db');
    const started = Date.now();
    const database = await openPglite(dbDir);
    await migrate(database);
    const instanceId = await ensureInstanceId(database);
    log.info({ dbDir, instanceId, ms: Date.now() - started }, 'embedded database ready');
    const accelerator = await detectAccelerator({ log: (line) => log.info(line) });

    const { apiKey } = await ensureLocalAdmin(database.query);
    const clientConf = join(dataDir, 'client.conf');
    const app = await buildApp({ database, log, blobDir: join(dataDir, 'blobs') });
    healthRoute(app, database, { instanceId });
    app.get('/', async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send(
          `<!doctype html><html lang="en"><meta charset="utf-8"><title>kubeqa</title><body><h1>kubeqa (embedded mode)</h1>` +
            `<ul><li>database: embedded PostgreSQL in ${escapeHtml(dbDir)}</li><li>QEMU accelerator: ${accelerator.accel} — ${escapeHtml(accelerator.reason)}</li></ul>` +
            '<p>The openQA-compatible API is at <a href="/api/v1/openapi.json">/api/v1</a>. The scheduler, the local test runner and the pages are being built; see docs/development.md.</p></body></html>',
        ),
    );
    const url = await app.listen({ host: values.host, port });
    const host = url.replace(/^https?:\/\//, '');
    writeFileSync(clientConf, `[${host}]\nkey = ${apiKey.key}\nsecret = ${apiKey.secret}\n`, { mode: 0o600 });
    process.stdout.write(
      `kubeqa is up: ${url}\n  data: ${dataDir}\n  health: ${url}/healthz\n  API: ${url}/api/v1 (key and secret of the admin in ${clientConf}, openQA's client.conf format)\n`,
    );
    await untilStopSignal();
    await app.close();
    await database.close();
    log.info('stopped');
    return 0;
  },
};

/** This installation's id: made once, kept in the database across restarts. */
async function ensureInstanceId(database: OpenDatabase): Promise<string> {
  await database.query(
    "insert into kubeqa_meta (key, value) values ('instance_id', gen_random_uuid()::text) on conflict (key) do nothing",
  );
  const [row] = await database.query<{ value: string }>(
    "select value from kubeqa_meta where key = 'instance_id'",
  );
  if (!row) throw new KubeqaError('KQ_ERR_INTERNAL', 'the embedded database did not keep the instance id');
  return row.value;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
