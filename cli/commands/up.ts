// `kubeqa up`: the embedded default in one process. The embedded PostgreSQL (PGlite, on disk,
// migrated), the web server with the openQA-compatible API, the scheduler, and the local
// executor running each job as a `kubeqa worker run-job` child with assets from a local asset
// directory. A fresh installation is preloaded with the demo (config/demo/demo.yaml): a machine,
// the busybox and Debian installer products, their test suites, a job group with templates, and
// the demo assets. It prints the URL and where the API key is (client.conf).

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type OpenDatabase, openPglite } from '../../db/connect.js';
import { type ApiCall, readDemoConfig, seedDemo } from '../../db/demo-seed.js';
import { migrate } from '../../db/migrate.js';
import { ensureLocalAdmin } from '../../db/users.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { KubeqaError } from '../../domain/errors.js';
import { dbSlotRegistry } from '../../operator/executors/db-slot-registry.js';
import { LocalExecutor } from '../../operator/executors/local.js';
import { DEFAULT_LOCAL_CLASSES, defaultSlotCount } from '../../operator/executors/local-slots.js';
import { startScheduler } from '../../operator/scheduler/run-scheduler.js';
import { createLogger } from '../../runtime/logger.js';
import { packageRoot } from '../../runtime/package-root.js';
import { dataHome } from '../../runtime/paths.js';
import { LocalStore } from '../../runtime/storage/local-store.js';
import { buildApp } from '../../webui/app.js';
import { downloadDomainsFromEnv } from '../../webui/assets/server-assets.js';
import { healthRoute } from '../../webui/health.js';
import { timeoutScaleFor } from '../../worker-image/qemu/accelerator.js';
import { detectAccelerator } from '../../worker-image/qemu/kvm-probe.js';
import type { Command } from '../command.js';
import { prepareDemoAssets } from '../demo-assets.js';
import { parsePort, untilStopSignal } from '../process-helpers.js';

const HELP = `usage: kubeqa up [--host 127.0.0.1] [--port 9526] [--data-dir DIR] [--slots N] [--worker-class C,…] [--no-demo]

Starts kubeqa's embedded default in this process and prints its URL: the API and web server,
the scheduler and a local executor that runs jobs on this machine (QEMU).
  --host          address to listen on (default 127.0.0.1)
  --port          port to listen on (default 9526, openQA's; 0 picks a free one)
  --data-dir      database, assets (DIR/assets/{iso,hdd,other}) and job directories
                  (default $KUBEQA_HOME or ~/.local/share/kubeqa)
  --slots         jobs run at once (default $KUBEQA_LOCAL_SLOTS, else from CPUs and memory)
  --worker-class  classes of the local slots (default qemu_x86_64)
  --no-demo       do not preload the demo (machine, products, test suites, job group, assets)
`;

export const upCommand: Command = {
  name: 'up',
  summary: 'start the embedded default (database, API, scheduler, local runner) in one process',
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '9526' },
        'data-dir': { type: 'string' },
        slots: { type: 'string' },
        'worker-class': { type: 'string' },
        'no-demo': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const port = parsePort(values.port);
    const slots = parseSlots(values.slots ?? process.env.KUBEQA_LOCAL_SLOTS);
    const classes = (values['worker-class'] ?? DEFAULT_LOCAL_CLASSES.join(','))
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
    const log = createLogger('kubeqa-up');
    const dataDir = values['data-dir'] ?? dataHome();
    mkdirSync(dataDir, { recursive: true });
    const dbDir = join(dataDir, 'db');
    const assetDir = join(dataDir, 'assets');
    const started = Date.now();
    const database = await openPglite(dbDir);
    await migrate(database);
    const instanceId = await ensureInstanceId(database);
    log.info({ dbDir, instanceId, ms: Date.now() - started }, 'embedded database ready');
    const accelerator = await detectAccelerator({ log: (line) => log.info(line) });

    const { apiKey } = await ensureLocalAdmin(database.query);
    const clientConf = join(dataDir, 'client.conf');
    // the asset directory is the local store: imports (url=…, *_URL settings) land there
    const app = await buildApp({
      database,
      log,
      blobDir: join(dataDir, 'blobs'),
      uiAtRoot: true,
      assets: { store: new LocalStore(assetDir), downloadDomains: downloadDomainsFromEnv(process.env) },
    });
    healthRoute(app, database, { instanceId });
    const url = await app.listen({ host: values.host, port });
    const host = url.replace(/^https?:\/\//, '');
    writeFileSync(clientConf, `[${host}]\nkey = ${apiKey.key}\nsecret = ${apiKey.secret}\n`, { mode: 0o600 });

    if (!values['no-demo']) {
      const assets = prepareDemoAssets(assetDir);
      for (const gap of assets.missing)
        log.warn({ asset: gap.asset }, `demo asset ${gap.asset} is missing; to get it: ${gap.hint}`);
      const api: ApiCall = async (method, path, params = {}, body) => {
        const query = new URLSearchParams(params).toString();
        const pathQuery = `/api/v1/${path}${query ? `?${query}` : ''}`;
        const headers: Record<string, string> = { ...signRequest(apiKey.key, apiKey.secret, pathQuery) };
        if (body !== undefined) headers['content-type'] = 'application/json';
        const res = await app.inject({
          method: method as 'POST',
          url: pathQuery,
          headers,
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        let parsed: unknown = res.body;
        try {
          parsed = JSON.parse(res.body);
        } catch {}
        return { status: res.statusCode, body: parsed };
      };
      const config = readDemoConfig(join(packageRoot(), 'config', 'demo', 'demo.yaml'));
      const timeoutScale = String(timeoutScaleFor(accelerator.accel));
      if (await seedDemo(database.query, api, config, { machineDefaults: { TIMEOUT_SCALE: timeoutScale } }))
        log.info({ timeoutScale }, 'demo loaded (config/demo/demo.yaml)');
    }

    const executor = new LocalExecutor({
      database,
      registry: dbSlotRegistry(database),
      apiUrl: url,
      workRoot: join(dataDir, 'jobs'),
      assetDir,
      slots,
      classes,
      log,
    });
    await executor.start();
    const scheduler = await startScheduler({
      database,
      log,
      onAssigned: executor.onAssigned,
      onStopped: executor.onStopped,
    });
    // kubeqa api finds the key in the default data directory's client.conf; elsewhere, say where
    const apiCommand = dataDir === dataHome() ? 'kubeqa api' : `KUBEQA_HOME=${dataDir} kubeqa api`;
    process.stdout.write(
      `kubeqa is up: ${url}\n  data: ${dataDir}\n  health: ${url}/healthz\n  API: ${url}/api/v1 (key and secret of the admin in ${clientConf}, openQA's client.conf format)\n` +
        `  API key: ${apiKey.key} (secret in ${clientConf})\n` +
        `  local executor: ${slots} slot(s) of class ${classes.join(',')}; QEMU accelerator ${accelerator.accel}\n` +
        (values['no-demo']
          ? ''
          : `  demo: ${apiCommand} --host ${url} -X POST isos DISTRI=busybox VERSION=1 FLAVOR=initramfs ARCH=x86_64 BUILD=1\n` +
            `        ${apiCommand} --host ${url} -X POST isos DISTRI=debian-installer VERSION=12 FLAVOR=netboot ARCH=x86_64 BUILD=1\n`),
    );
    await untilStopSignal();
    log.info({}, 'stopping: runners first (their jobs end as terminated prematurely), then the scheduler');
    await executor.stop();
    await scheduler.stop();
    await app.close();
    await database.close();
    log.info('stopped');
    return 0;
  },
};

function parseSlots(value: string | undefined): number {
  if (value === undefined || value === '')
    return defaultSlotCount({ cpus: cpus().length, memoryBytes: totalmem() });
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256)
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `--slots must be a whole number from 1 to 256, got '${value}'`,
    );
  return n;
}

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
