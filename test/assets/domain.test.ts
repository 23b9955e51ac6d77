// The pure asset decisions: cache eviction order, group-limit cleanup, `*_URL` settings, names.
import { describe, expect, it } from 'vitest';
import { orphanedObjects, selectAssetsToDelete } from '../../domain/assets/cleanup.js';
import { lruOrder, planEviction } from '../../domain/assets/eviction.js';
import { assetKey, assetTypeFromSetting, validateAssetName } from '../../domain/assets/types.js';
import { hostAllowed, planUrlDownloads } from '../../domain/assets/url-settings.js';
import { backoffDelay, isTransient, isTransientStatus, withRetry } from '../../runtime/storage/retry.js';

const GiB = 1024 ** 3;

describe('cache eviction plan', () => {
  const entries = [
    { name: 'iso/c', size: 3 * GiB, lastUse: 300, inUse: false },
    { name: 'iso/a', size: 2 * GiB, lastUse: 100, inUse: false },
    { name: 'hdd/b', size: 4 * GiB, lastUse: 200, inUse: true },
    { name: 'hdd/d', size: 1 * GiB, lastUse: 400, inUse: false },
  ];

  it('orders least recently used first', () => {
    expect(lruOrder(entries).map((e) => e.name)).toEqual(['iso/a', 'hdd/b', 'iso/c', 'hdd/d']);
  });

  it('evicts the oldest unused assets until the new one fits, skipping ones in use', () => {
    // 10 GiB cached, limit 12, 5 incoming: 3 GiB must go → a (2), then b is in use, then c (3).
    const plan = planEviction({ entries, limitBytes: 12 * GiB, incomingBytes: 5 * GiB, minFreePercent: 0 });
    expect(plan).toEqual({ fits: true, evict: ['iso/a', 'iso/c'], freedBytes: 5 * GiB });
  });

  it('evicts nothing when everything fits', () => {
    expect(
      planEviction({ entries, limitBytes: 20 * GiB, incomingBytes: 5 * GiB, minFreePercent: 0 }).evict,
    ).toEqual([]);
  });

  it('keeps the minimum free share of the disk', () => {
    // Under the size limit, but 100 GiB disk with 12 GiB free must keep 10 % free after 4 GiB more.
    const plan = planEviction({
      entries,
      limitBytes: 100 * GiB,
      incomingBytes: 4 * GiB,
      disk: { totalBytes: 100 * GiB, freeBytes: 12 * GiB },
      minFreePercent: 10,
    });
    expect(plan).toEqual({ fits: true, evict: ['iso/a'], freedBytes: 2 * GiB });
  });

  it('says why it cannot make room when jobs hold too much', () => {
    const plan = planEviction({ entries, limitBytes: 6 * GiB, incomingBytes: 3 * GiB, minFreePercent: 0 });
    expect(plan.fits).toBe(false);
    expect(plan.fits === false && plan.reason).toMatch(
      /exceed its limit of 6.0 GiB.*4.0 GiB held by running jobs/,
    );
    const tooBig = planEviction({ entries: [], limitBytes: GiB, incomingBytes: 2 * GiB, minFreePercent: 0 });
    expect(tooBig.fits === false && tooBig.reason).toMatch(/larger than the cache limit/);
  });
});

describe('group-limit cleanup', () => {
  const base = { fixed: false, pending: false, createdAt: 0 };
  it('keeps the newest assets of each group within its limit, never fixed or pending ones', () => {
    const decision = selectAssetsToDelete({
      assets: [
        { ...base, id: 'new', size: 4, groups: [1], lastUse: 400 },
        { ...base, id: 'mid', size: 4, groups: [1], lastUse: 300 },
        { ...base, id: 'old', size: 4, groups: [1], lastUse: 200 },
        { ...base, id: 'pending-old', size: 4, groups: [1], lastUse: 100, pending: true },
        { ...base, id: 'fixed-old', size: 100, groups: [1], lastUse: 50, fixed: true },
        { ...base, id: 'shared', size: 4, groups: [1, 2], lastUse: 150 },
      ],
      groupLimits: new Map([
        [1, 112],
        [2, 10],
      ]),
      untrackedMaxAgeMs: 1000,
      now: 1000,
    });
    // Group 1: fixed (100) + pending (4) count first, then new (4) fits (108), mid does not (112 ok?)
    // 108 + 4 = 112 ≤ 112 → mid kept; old does not fit → deleted; shared kept by group 2.
    expect(decision.delete).toEqual([{ id: 'old', reason: 'over the size limit of job group(s) 1' }]);
    expect(decision.keptBytesByGroup.get(1)).toBe(112);
    expect(decision.keptBytesByGroup.get(2)).toBe(4);
  });

  it('removes assets of no group after the grace period, and finds orphaned store objects', () => {
    const decision = selectAssetsToDelete({
      assets: [
        { ...base, id: 'stale', size: 1, groups: [], lastUse: 0 },
        { ...base, id: 'fresh', size: 1, groups: [], lastUse: 900 },
        { ...base, id: 'stale-pending', size: 1, groups: [], lastUse: 0, pending: true },
      ],
      groupLimits: new Map(),
      untrackedMaxAgeMs: 500,
      now: 1000,
    });
    expect(decision.delete.map((d) => d.id)).toEqual(['stale']);
    expect(
      orphanedObjects(
        [
          { key: 'iso/known', lastModified: 0 },
          { key: 'iso/orphan', lastModified: 0 },
          { key: 'iso/uploading', lastModified: 990 },
        ],
        new Set(['iso/known']),
        1000,
        100,
      ),
    ).toEqual(['iso/orphan']);
  });
});

describe('*_URL settings', () => {
  const domains = ['example.org'];
  it('names the asset after the URL unless the asset setting names it', () => {
    const result = planUrlDownloads(
      {
        ISO_URL: 'https://download.example.org/isos/Fedora-41.iso?x=1',
        HDD_1_URL: 'http://example.org/disk.qcow2',
        HDD_1: 'base.qcow2',
        SCC_URL: 'https://scc.suse.com',
        KERNEL_URL: 's3://bucket/kernels/vmlinuz',
        HDD_2_DECOMPRESS_URL: 'https://example.org/images/leap.raw.xz',
      },
      { downloadDomains: domains },
    );
    expect(result.downloads).toEqual([
      {
        setting: 'ISO',
        type: 'iso',
        name: 'Fedora-41.iso',
        url: 'https://download.example.org/isos/Fedora-41.iso?x=1',
      },
      { setting: 'HDD_1', type: 'hdd', name: 'base.qcow2', url: 'http://example.org/disk.qcow2' },
      { setting: 'KERNEL', type: 'other', name: 'vmlinuz', url: 's3://bucket/kernels/vmlinuz' },
      {
        setting: 'HDD_2',
        type: 'hdd',
        name: 'leap.raw',
        url: 'https://example.org/images/leap.raw.xz',
        decompress: 'xz',
      },
    ]);
    expect(result.settings).toMatchObject({
      ISO: 'Fedora-41.iso',
      HDD_1: 'base.qcow2',
      KERNEL: 'vmlinuz',
      HDD_2: 'leap.raw',
    });
    expect(result.settings.SCC_URL).toBe('https://scc.suse.com');
  });

  it('refuses hosts outside the download domains, other schemes, and unsafe names', () => {
    expect(() =>
      planUrlDownloads({ ISO_URL: 'https://evil.com/x.iso' }, { downloadDomains: domains }),
    ).toThrow(/downloads from 'evil.com' are not allowed/);
    expect(() => planUrlDownloads({ ISO_URL: 'https://example.org/x.iso' }, { downloadDomains: [] })).toThrow(
      /no download domains are configured/,
    );
    expect(() => planUrlDownloads({ ISO_URL: 'file:///etc/passwd' }, { downloadDomains: domains })).toThrow(
      /cannot be downloaded/,
    );
    expect(() => planUrlDownloads({ ISO_URL: 'https://example.org/' }, { downloadDomains: domains })).toThrow(
      /names no file/,
    );
    expect(() =>
      planUrlDownloads({ ISO_URL: 'https://example.org/a%2F..%2Fb' }, { downloadDomains: domains }),
    ).toThrow(/not a valid asset name/);
    expect(() =>
      planUrlDownloads({ HDD_1_DECOMPRESS_URL: 'https://example.org/a.img' }, { downloadDomains: domains }),
    ).toThrow(/cannot tell how 'a.img' is compressed/);
    expect(hostAllowed('EXAMPLE.org.', domains)).toBe(true);
    expect(hostAllowed('notexample.org', domains)).toBe(false);
  });
});

describe('asset names and types', () => {
  it('maps settings to asset types as openQA does', () => {
    expect(assetTypeFromSetting('ISO')).toBe('iso');
    expect(assetTypeFromSetting('ISO_2')).toBe('iso');
    expect(assetTypeFromSetting('HDD_1')).toBe('hdd');
    expect(assetTypeFromSetting('UEFI_PFLASH_VARS', 'vars.fd')).toBe('hdd');
    expect(assetTypeFromSetting('UEFI_PFLASH_VARS', '/usr/share/OVMF/vars.fd')).toBeUndefined();
    expect(assetTypeFromSetting('REPO_0')).toBe('repo');
    expect(assetTypeFromSetting('KERNEL')).toBe('other');
    expect(assetTypeFromSetting('HDD')).toBeUndefined();
  });

  it('accepts file names and refuses paths', () => {
    expect(assetKey('iso', 'openSUSE-Tumbleweed-DVD-x86_64-Snapshot20240101-Media.iso')).toBe(
      'iso/openSUSE-Tumbleweed-DVD-x86_64-Snapshot20240101-Media.iso',
    );
    for (const bad of ['', '../x', 'a/b', '.hidden', 'a b', 'x'.repeat(256)]) {
      expect(() => validateAssetName(bad)).toThrow(/not a valid asset name/);
    }
    expect(() => assetKey('floppy' as 'iso', 'x')).toThrow(/not an asset type/);
  });
});

describe('retries', () => {
  it('backs off exponentially within bounds and retries only transient errors', () => {
    expect(backoffDelay(1, 100, 1000, 0.5)).toBe(100);
    expect(backoffDelay(3, 100, 1000, 0.5)).toBe(400);
    expect(backoffDelay(10, 100, 1000, 0.5)).toBe(1000);
    expect(backoffDelay(1, 100, 1000, 0)).toBe(75);
    expect(isTransient(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { status: 503 }))).toBe(true);
    expect(
      isTransient(new Error('wrapped', { cause: Object.assign(new Error('y'), { code: 'ECONNRESET' }) })),
    ).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { status: 404 }))).toBe(false);
    expect(
      isTransient(Object.assign(new Error('checksum mismatch'), { code: 'KQ_ERR_CHECKSUM_MISMATCH' })),
    ).toBe(false);
    expect([500, 502, 503, 429, 408].every(isTransientStatus)).toBe(true);
    expect([400, 401, 403, 404, 409].some(isTransientStatus)).toBe(false);
  });

  it('with a time budget and no attempt limit, gives up when the next attempt would start too late', async () => {
    let attempts = 0;
    const retried: number[] = [];
    const failing = withRetry(
      async () => {
        attempts++;
        throw Object.assign(new Error('busy'), { status: 503 });
      },
      {
        attempts: Number.POSITIVE_INFINITY,
        baseDelayMs: 10,
        maxDelayMs: 20,
        budgetMs: 80,
        onRetry: (_e, attempt) => retried.push(attempt),
      },
    );
    await expect(failing).rejects.toThrow('busy');
    // it ended (without the budget it would retry for ever), after more than one attempt
    expect(attempts).toBeGreaterThan(2);
    expect(retried).toEqual(Array.from({ length: attempts - 1 }, (_, i) => i + 1));
    // a permanent error ends it at once, whatever the budget
    let once = 0;
    await expect(
      withRetry(
        async () => {
          once++;
          throw Object.assign(new Error('gone'), { status: 404 });
        },
        { attempts: Number.POSITIVE_INFINITY, budgetMs: 60_000 },
      ),
    ).rejects.toThrow('gone');
    expect(once).toBe(1);
  });
});

describe('job readiness and produced assets', () => {
  it('waits with a visible reason until every asset is ready, and says when one failed', async () => {
    const { assetReadiness } = await import('../../domain/assets/readiness.js');
    const required = [
      { type: 'iso' as const, name: 'a.iso' },
      { type: 'hdd' as const, name: 'b.qcow2' },
    ];
    expect(
      assetReadiness(required, [
        { type: 'iso', name: 'a.iso', state: 'ready' },
        { type: 'hdd', name: 'b.qcow2', state: 'ready' },
      ]),
    ).toEqual({ ready: true });
    expect(
      assetReadiness(required, [
        { type: 'iso', name: 'a.iso', state: 'importing', size: 4 * GiB, bytes: GiB },
      ]),
    ).toEqual({
      ready: false,
      failed: false,
      reason: 'waiting for assets: iso/a.iso: importing, 25 % of 4.0 GiB; hdd/b.qcow2 is not registered',
      waitingFor: required,
    });
    const failed = assetReadiness(required, [
      { type: 'iso', name: 'a.iso', state: 'failed', reason: 'checksum mismatch' },
      { type: 'hdd', name: 'b.qcow2', state: 'ready' },
    ]);
    expect(failed).toMatchObject({
      ready: false,
      failed: true,
      reason: 'asset failed: iso/a.iso failed: checksum mismatch',
    });
  });

  it('publishes disks of passed jobs, forced ones always, stored ones privately', async () => {
    const { outputAssets } = await import('../../domain/assets/outputs.js');
    const settings = {
      PUBLISH_HDD_1: 'base.qcow2',
      FORCE_PUBLISH_HDD_2: 'debug.qcow2',
      STORE_HDD_3: 'chain.qcow2',
      HDD_1: 'x',
    };
    expect(outputAssets(settings, { id: 42, passed: true })).toEqual([
      { from: 'HDD_1', type: 'hdd', name: 'base.qcow2', private: false },
      { from: 'HDD_2', type: 'hdd', name: 'debug.qcow2', private: false },
      { from: 'HDD_3', type: 'hdd', name: '00000042-chain.qcow2', private: true },
    ]);
    expect(outputAssets(settings, { id: 42, passed: false })).toEqual([
      { from: 'HDD_2', type: 'hdd', name: 'debug.qcow2', private: false },
    ]);
    expect(() => outputAssets({ PUBLISH_HDD_1: '../etc/passwd' }, { id: 1, passed: true })).toThrow(
      /not a valid asset name/,
    );
  });
});

describe('configuration from the environment', () => {
  it('reads CACHE* and S3 settings and refuses bad values with the variable named', async () => {
    const { cacheOptionsFromEnv } = await import('../../worker-image/cache/config.js');
    const { s3ConfigFromEnv } = await import('../../runtime/storage/config.js');
    const s3 = {
      KUBEQA_S3_ENDPOINT: 'https://s3.example.org:9443',
      KUBEQA_S3_ACCESS_KEY: 'ak',
      KUBEQA_S3_SECRET_KEY: 'sk',
      KUBEQA_S3_BUCKET: 'assets',
    };
    expect(s3ConfigFromEnv(s3)).toMatchObject({
      endPoint: 's3.example.org',
      port: 9443,
      useSSL: true,
      bucket: 'assets',
      prefix: 'assets/',
    });
    expect(() => s3ConfigFromEnv({ ...s3, KUBEQA_S3_SECRET_KEY: '' })).toThrow(/KUBEQA_S3_SECRET_KEY is not/);
    const options = cacheOptionsFromEnv({
      ...s3,
      CACHEDIRECTORY: '/var/cache/kubeqa',
      CACHELIMIT: '0.5',
      CACHEWORKERS: '3',
      CACHE_MIN_FREE_PERCENTAGE: '10',
    });
    expect(options).toMatchObject({
      directory: '/var/cache/kubeqa',
      limitBytes: GiB / 2,
      workers: 3,
      minFreePercent: 10,
    });
    expect(options.source.description).toBe('s3 https://s3.example.org:9443/assets/assets/');
    expect(() => cacheOptionsFromEnv({ ...s3, CACHELIMIT: 'lots' })).toThrow(
      /CACHELIMIT must be a positive number of GiB, got 'lots'/,
    );
    expect(() => cacheOptionsFromEnv({ ...s3, CACHEWORKERS: '0' })).toThrow(/CACHEWORKERS/);
    const remote = cacheOptionsFromEnv({
      KUBEQA_API_URL: 'https://kubeqa.example.org',
      KUBEQA_API_KEY: 'k',
      KUBEQA_API_SECRET: 's',
    });
    expect(remote.source.description).toBe('web API https://kubeqa.example.org');
    expect(() => cacheOptionsFromEnv({ KUBEQA_API_URL: 'https://kubeqa.example.org' })).toThrow(
      /KUBEQA_API_KEY and KUBEQA_API_SECRET/,
    );
    expect(() => cacheOptionsFromEnv({})).toThrow(/the cache has no asset source/);
    // A test pod: its job token for the web API, and S3 settings from a Secret without the prefix.
    const pod = { KUBEQA_API_URL: 'http://kubeqa-api:9526', KUBEQA_JOB_TOKEN: 't' };
    expect(cacheOptionsFromEnv(pod).source.description).toBe('web API http://kubeqa-api:9526');
    const withSecret = {
      ...pod,
      S3_ENDPOINT: 'http://minio:9000',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
      S3_BUCKET: 'kq',
    };
    expect(cacheOptionsFromEnv(withSecret).source.description).toBe('s3 http://minio:9000/kq/assets/');
    // The Helm chart's Secret: a bare host and S3_USE_SSL.
    const chart = {
      S3_ENDPOINT: 's3.amazonaws.com',
      S3_USE_SSL: 'true',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
      S3_BUCKET: 'kq',
    };
    expect(s3ConfigFromEnv(chart)).toMatchObject({ endPoint: 's3.amazonaws.com', useSSL: true });
    expect(
      s3ConfigFromEnv({ ...chart, S3_ENDPOINT: 'minio.kubeqa:9000', S3_USE_SSL: 'false' }),
    ).toMatchObject({
      endPoint: 'minio.kubeqa',
      port: 9000,
      useSSL: false,
    });
    expect(() => s3ConfigFromEnv({ ...chart, S3_USE_SSL: 'maybe' })).toThrow(/USE_SSL must be true or false/);
  });
});
