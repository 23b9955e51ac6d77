// The cache's metrics in Prometheus' text format (a few counters need no client library). Counts
// are per process; every sidecar or daemon exposes its own.

export class CacheMetrics {
  hits = 0;
  misses = 0;
  /** Bytes downloaded from the source. */
  downloadedBytes = 0;
  /** Seconds spent downloading (bytes / seconds is the download rate). */
  downloadSeconds = 0;
  /** Bytes per second of the last completed download. */
  lastDownloadRate = 0;
  evictions = 0;
  evictedBytes = 0;
  failures = 0;
  retries = 0;
  /** Requests that waited for another process's download of the same asset. */
  waits = 0;

  recordDownload(bytes: number, seconds: number): void {
    this.downloadedBytes += bytes;
    this.downloadSeconds += seconds;
    if (seconds > 0) this.lastDownloadRate = bytes / seconds;
  }

  render(extra: { cachedBytes?: number; cachedAssets?: number; limitBytes?: number } = {}): string {
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('kubeqa_cache_hits_total', 'counter', 'Asset requests served from the cache', this.hits);
    metric('kubeqa_cache_misses_total', 'counter', 'Asset requests that downloaded the asset', this.misses);
    metric(
      'kubeqa_cache_waits_total',
      'counter',
      "Requests that waited for another process's download",
      this.waits,
    );
    metric(
      'kubeqa_cache_downloaded_bytes_total',
      'counter',
      'Bytes downloaded into the cache',
      this.downloadedBytes,
    );
    metric(
      'kubeqa_cache_download_seconds_total',
      'counter',
      'Seconds spent downloading',
      this.downloadSeconds,
    );
    metric(
      'kubeqa_cache_last_download_bytes_per_second',
      'gauge',
      'Rate of the last download',
      this.lastDownloadRate,
    );
    metric(
      'kubeqa_cache_evictions_total',
      'counter',
      'Assets evicted to stay under the limits',
      this.evictions,
    );
    metric('kubeqa_cache_evicted_bytes_total', 'counter', 'Bytes evicted', this.evictedBytes);
    metric('kubeqa_cache_failures_total', 'counter', 'Requests that ended in a cache failure', this.failures);
    metric(
      'kubeqa_cache_retries_total',
      'counter',
      'Download attempts retried after a transient error',
      this.retries,
    );
    if (extra.cachedBytes !== undefined)
      metric('kubeqa_cache_size_bytes', 'gauge', 'Bytes of assets in the cache directory', extra.cachedBytes);
    if (extra.cachedAssets !== undefined)
      metric('kubeqa_cache_assets', 'gauge', 'Assets in the cache directory', extra.cachedAssets);
    if (extra.limitBytes !== undefined)
      metric('kubeqa_cache_limit_bytes', 'gauge', 'CACHELIMIT in bytes', extra.limitBytes);
    return `${lines.join('\n')}\n`;
  }
}
