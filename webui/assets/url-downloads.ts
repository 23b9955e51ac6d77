// `*_URL` settings of jobs and product posts (ISO_URL, HDD_1_URL, …, as openQA's): which assets
// to download, with the asset settings filled with their names (domain/assets/url-settings.ts
// decides), turned into import orders for the server's importer.
import { planUrlDownloads } from '../../domain/assets/url-settings.js';
import { KubeqaError } from '../../domain/errors.js';
import type { MultiSettings } from '../../domain/jobs/create-params.js';
import type { ApiContext } from '../app.js';
import type { ImportOrder } from './importer.js';

export interface UrlDownloadConfig {
  /** Hosts `*_URL` settings may download from (a domain and its subdomains). */
  downloadDomains: readonly string[];
  /** Whether the server can import at all (it has an asset store). */
  canImport: boolean;
}

function ordersOf(
  settings: Readonly<Record<string, string>>,
  config: UrlDownloadConfig,
): { settings: Record<string, string>; orders: ImportOrder[] } {
  const plan = planUrlDownloads(settings, { downloadDomains: config.downloadDomains });
  if (plan.downloads.length > 0 && !config.canImport) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `${plan.downloads.map((d) => `${d.setting}_URL`).join(', ')}: this server has no asset store to download into`,
      'configure the asset store (KUBEQA_S3_* or KUBEQA_ASSET_DIR), or upload the asset and name it in the setting',
    );
  }
  return {
    settings: plan.settings,
    orders: plan.downloads.map((d) => ({
      type: d.type,
      name: d.name,
      source: d.url,
      ...(d.decompress ? { decompress: d.decompress } : {}),
    })),
  };
}

/** Flat settings (a product post): the completed settings and the imports they ask for. */
export function urlDownloadsOfParams(
  params: Readonly<Record<string, string>>,
  config: UrlDownloadConfig,
): { settings: Record<string, string>; orders: ImportOrder[] } {
  return ordersOf(params, config);
}

/** Multi-valued job settings: the same, with each filled asset setting as one value. */
export function urlDownloadsOfJob(
  settings: MultiSettings,
  config: UrlDownloadConfig,
): { settings: MultiSettings; orders: ImportOrder[] } {
  const flat = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, v.at(-1) ?? '']));
  const planned = ordersOf(flat, config);
  const out: MultiSettings = { ...settings };
  for (const [key, value] of Object.entries(planned.settings)) {
    if (flat[key] !== value) out[key] = [value];
  }
  return { settings: out, orders: planned.orders };
}

/**
 * The settings with their `*_URL` downloads planned and the imports started (or joined); flat
 * settings (a product post) or multi-valued ones (a job).
 */
export async function requestUrlDownloads<S extends Record<string, string> | MultiSettings>(
  ctx: Pick<ApiContext, 'assets'>,
  settings: S,
): Promise<S> {
  const config = { downloadDomains: ctx.assets?.downloadDomains ?? [], canImport: ctx.assets !== undefined };
  const multi = Object.values(settings).some((v) => Array.isArray(v));
  const planned = multi
    ? urlDownloadsOfJob(settings as MultiSettings, config)
    : urlDownloadsOfParams(settings as Record<string, string>, config);
  for (const order of planned.orders) await ctx.assets?.importer.request(order);
  return planned.settings as S;
}
