// `kubeqa cache`: the node's asset cache outside a pod's sidecar, e.g. on a remote worker.
//   kubeqa cache serve  [--host 127.0.0.1] [--port 9530] [--socket PATH]   the cache daemon (HTTP)
//   kubeqa cache fetch  <type>/<name> --dest PATH [--sha256 HEX]   one asset, linked to PATH
//   kubeqa cache status                                      what the cache holds
// Settings come from the environment (worker-image/cache/config.ts; docs/assets.md).
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatBytes } from '../../domain/assets/eviction.js';
import { validateAssetType } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import { createLogger } from '../../runtime/logger.js';
import { AssetCache, CacheFailure } from '../../worker-image/cache/cache.js';
import { cacheOptionsFromEnv } from '../../worker-image/cache/config.js';
import { cacheServer, listenCache } from '../../worker-image/cache/daemon.js';
import type { Command } from '../command.js';

const HELP = `usage: kubeqa cache serve [--host 127.0.0.1] [--port 9530] [--socket PATH]
       kubeqa cache fetch <type>/<name> --dest PATH [--sha256 HEX]
       kubeqa cache status

The node's asset cache. Configured by the environment:
  CACHEDIRECTORY, CACHELIMIT (GiB), CACHEWORKERS, CACHE_MIN_FREE_PERCENTAGE,
  KUBEQA_S3_ENDPOINT/_ACCESS_KEY/_SECRET_KEY/_BUCKET/_PREFIX (S3), or
  KUBEQA_API_URL/_KEY/_SECRET (remote mode over the web API). See docs/assets.md.
`;

/** Exit code of a cache failure: EX_TEMPFAIL, the job can be retried. */
export const EXIT_CACHE_FAILURE = 75;

export const cacheCommand: Command = {
  name: 'cache',
  summary: 'the node asset cache: serve (daemon), fetch one asset, status',
  async run(args) {
    const [sub, ...rest] = args;
    if (!sub || sub === '--help' || sub === '-h') {
      process.stdout.write(HELP);
      return sub ? 0 : 2;
    }
    const log = createLogger('kubeqa-cache');
    if (sub === 'serve') {
      const { values } = parseArgs({
        args: rest,
        options: {
          host: { type: 'string', default: '127.0.0.1' },
          port: { type: 'string', default: '9530' },
          socket: { type: 'string' },
        },
      });
      const port = Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `--port must be a number from 0 to 65535, got '${values.port}'`,
        );
      }
      const cache = new AssetCache(cacheOptionsFromEnv(process.env, log));
      const evicted = await cache.enforceLimits();
      if (evicted.length > 0) log.info({ evicted }, 'evicted to honour the limits');
      const app = cacheServer(cache);
      const url = await listenCache(
        app,
        values.socket ? { socket: values.socket } : { host: values.host, port },
      );
      process.stdout.write(`kubeqa cache is up: ${url}\n  directory: ${cache.directory}\n`);
      await new Promise<void>((done) => {
        process.once('SIGINT', () => done());
        process.once('SIGTERM', () => done());
      });
      await app.close();
      return 0;
    }
    if (sub === 'fetch') {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { dest: { type: 'string' }, sha256: { type: 'string' } },
      });
      const [what] = positionals;
      const match = /^([a-z]+)\/(.+)$/.exec(what ?? '');
      if (!match?.[1] || !match[2] || !values.dest) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          'usage: kubeqa cache fetch <type>/<name> --dest PATH [--sha256 HEX]',
        );
      }
      const cache = new AssetCache(cacheOptionsFromEnv(process.env, log));
      try {
        const result = await cache.acquire({
          type: validateAssetType(match[1]),
          name: match[2],
          dest: resolve(values.dest),
          ...(values.sha256 ? { sha256: values.sha256 } : {}),
        });
        process.stdout.write(`${JSON.stringify(result)}\n`);
        return 0;
      } catch (error) {
        if (error instanceof CacheFailure) {
          process.stderr.write(`kubeqa: ${error.message}\n`);
          return EXIT_CACHE_FAILURE;
        }
        throw error;
      }
    }
    if (sub === 'status') {
      const cache = new AssetCache(cacheOptionsFromEnv(process.env, log));
      await cache.init();
      const entries = await cache.entries();
      const usage = await cache.usage();
      process.stdout.write(
        `${cache.directory}: ${entries.length} assets, ${formatBytes(usage.cachedBytes)} of ${formatBytes(usage.limitBytes)}\n`,
      );
      for (const e of entries.sort((a, b) => b.lastUse - a.lastUse)) {
        process.stdout.write(
          `  ${e.name}  ${formatBytes(e.size)}  last use ${new Date(e.lastUse).toISOString()}${e.inUse ? '  (in use)' : ''}\n`,
        );
      }
      return 0;
    }
    process.stderr.write(`kubeqa cache: unknown sub-command '${sub}'\n\n${HELP}`);
    return 2;
  },
};
