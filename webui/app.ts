// The kubeqa web server as a fastify app built from options, so that tests, `kubeqa up` and a
// deployment all embed the same thing. API routes live in ./api (one module per route family);
// the UI pages and websockets join as further modules.

import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { activeJobToken } from '../db/assets.js';
import type { OpenDatabase } from '../db/connect.js';
import { KubeqaError } from '../domain/errors.js';
import { createLogger, type Logger } from '../runtime/logger.js';
import type { AssetStore } from '../runtime/storage/store.js';
import { apiKeyRoutes } from './api/api-keys.js';
import { assetRoutes } from './api/assets.js';
import { commentRoutes } from './api/comments.js';
import { configRoutes } from './api/config.js';
import { isoRoutes } from './api/isos.js';
import { jobGroupRoutes, parentGroupRoutes } from './api/job-groups.js';
import { jobTemplateRoutes } from './api/job-templates.js';
import { jobRoutes } from './api/jobs.js';
import { oidcRoutes } from './api/oidc.js';
import { openApiRoutes, recordRoutes } from './api/openapi.js';
import { runnerRoutes } from './api/runner.js';
import { sessionRoutes } from './api/session.js';
import { workerRoutes } from './api/workers.js';
import { AssetCleanup, type AssetCleanupOptions } from './assets/cleanup.js';
import { assetDownloadRoute } from './assets/download-route.js';
import { AssetImporter } from './assets/importer.js';
import { assetUploadRoute } from './assets/upload-route.js';
import { installAudit } from './audit.js';
import { type AuthOptions, apiKeyWithUser, authenticate } from './auth/authenticate.js';
import { OidcClient, type OidcConfig } from './auth/oidc.js';
import { type BlobStore, dirBlobStore } from './blob-store.js';
import { installErrorHandling } from './errors.js';
import { startWebhookSink, type WebhookOptions } from './events/webhook.js';
import { installBodyParsers } from './params.js';
import { uiApiRoutes } from './ui/routes.js';
import { staticRoutes } from './ui/static-files.js';

export interface AppOptions {
  database: OpenDatabase;
  log?: Logger;
  auth?: AuthOptions;
  /** Where uploaded result files (screenshots, logs) are kept, content-addressed: a directory… */
  blobDir?: string;
  /** …or any store (S3: `s3BlobStore`); one of the two is required. */
  blobStore?: BlobStore;
  /** Largest accepted request body in bytes (default 64 MiB). */
  bodyLimit?: number;
  /** Jobs per page of GET /api/v1/jobs without `limit` (default 10,000; a Link header points to the next page). */
  jobListLimit?: number;
  /** Serve the UI's overview at / as well as at /tests (default: only /tests). */
  uiAtRoot?: boolean;
  /** Forward job events to this webhook (see events/webhook.ts). */
  webhook?: Omit<WebhookOptions, 'log'>;
  /** Browser login through an OIDC provider (see auth/oidc.ts). */
  oidc?: OidcConfig;
  /**
   * The asset store: imports from url=… and `*_URL` settings, and the file route remote workers
   * download from (GET /api/v1/assets/:type/:name/file, API-key signature or a running job's token).
   */
  assets?: {
    store: AssetStore;
    /** Hosts `*_URL` settings and url=… may download from (a domain and its subdomains). */
    downloadDomains?: string[];
    /** Group cleanup (runs after imports, uploads and finished jobs); false: never. */
    cleanup?: false | Omit<AssetCleanupOptions, 'database' | 'store' | 'log'>;
  };
}

export interface ApiContext {
  database: OpenDatabase;
  log: Logger;
  blobs: BlobStore;
  jobListLimit?: number;
  oidc?: OidcClient;
  /** Present when the server has an asset store. */
  assets?: { importer: AssetImporter; downloadDomains: string[]; cleanup: AssetCleanup | undefined };
}

function blobStoreOf(options: AppOptions): BlobStore {
  if (options.blobStore) return options.blobStore;
  if (options.blobDir) return dirBlobStore(options.blobDir);
  throw new KubeqaError(
    'KQ_ERR_INVALID_ARGUMENT',
    'buildApp needs blobDir or blobStore',
    'where result files are kept',
  );
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const log = options.log ?? createLogger('webui');
  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 64 * 1024 * 1024,
    ajv: { customOptions: { coerceTypes: true, allErrors: false, removeAdditional: false } },
  });
  installBodyParsers(app);
  installErrorHandling(app, log);
  const routes = recordRoutes(app);
  installAudit(app, options.database, log);
  // Credentials are checked when a route asks who is calling (api/common.ts `need`), once per request.
  app.decorateRequest('principalPromise', undefined);
  app.decorateRequest('authenticate', function (this: FastifyRequest) {
    this.principalPromise ??= authenticate(this, options.database, options.auth);
    return this.principalPromise;
  });
  const ctx: ApiContext = {
    database: options.database,
    log,
    blobs: blobStoreOf(options),
    jobListLimit: options.jobListLimit,
    ...(options.oidc ? { oidc: new OidcClient(options.oidc) } : {}),
  };
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  if (options.assets) {
    const { store } = options.assets;
    const cleanupConfig = options.assets.cleanup;
    const cleanup =
      cleanupConfig === false
        ? undefined
        : new AssetCleanup({ ...cleanupConfig, database: options.database, store, log });
    await cleanup?.start();
    const importer = new AssetImporter({
      database: options.database,
      store,
      log,
      onSettled: () => cleanup?.trigger(),
    });
    ctx.assets = { importer, downloadDomains: options.assets.downloadDomains ?? [], cleanup };
    // Imports a stopped server left half done start again (in the background).
    void importer
      .resumeInterrupted()
      .catch((error: Error) => log.warn({ err: error.message }, 'could not look for interrupted imports'));
    app.addHook('onClose', async () => {
      await importer.close();
      await cleanup?.stop();
    });
    await app.register(assetDownloadRoute, {
      store,
      lookupKey: (key) => apiKeyWithUser(options.database, key),
      verifyJobToken: (token) => activeJobToken(options.database.query, token),
    });
    await app.register(assetUploadRoute, {
      database: options.database,
      store,
      onRegistered: () => cleanup?.trigger(),
    });
  }
  await app.register(
    async (api) => {
      await jobRoutes(api, ctx);
      await isoRoutes(api, ctx);
      await workerRoutes(api, ctx);
      await assetRoutes(api, ctx);
      await configRoutes(api, ctx);
      await jobGroupRoutes(api, ctx);
      await parentGroupRoutes(api, ctx);
      await jobTemplateRoutes(api, ctx);
      await commentRoutes(api, ctx);
      await apiKeyRoutes(api, ctx);
      await runnerRoutes(api, ctx);
      await sessionRoutes(api, ctx);
      await oidcRoutes(api, ctx);
      await uiApiRoutes(api, ctx);
      await openApiRoutes(api, routes);
    },
    { prefix: '/api/v1' },
  );
  // The web UI's pages (built on first request, see ui/build.ts).
  await app.register(staticRoutes, { root: options.uiAtRoot ?? false });
  if (options.webhook) {
    const stop = await startWebhookSink(options.database, { ...options.webhook, log });
    app.addHook('onClose', async () => stop());
  }
  return app;
}
