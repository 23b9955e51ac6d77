// MinIO built from the Go module proxy, on a loopback port, with one bucket.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as Minio from 'minio';
import { binary, minioSpec } from '../binaries.js';
import { freePort } from '../ports.js';
import { type ManagedProcess, spawnService, waitUntilReady } from '../processes.js';

export interface MinioInfo {
  endPoint: string;
  port: number;
  useSSL: false;
  accessKey: string;
  secretKey: string;
  /** A bucket created at start. */
  bucket: string;
  /** http://host:port */
  url: string;
  /** Prometheus metrics of the node (public, no auth): request counts per API. */
  metricsUrl: string;
}

/** What a restart reuses: the data directory, the port and the secret of a stopped MinIO. */
export interface MinioRestart {
  dir: string;
  port: number;
  secretKey: string;
}

export async function startMinio(
  log?: (line: string) => void,
  restart?: MinioRestart,
): Promise<{ info: MinioInfo; proc: ManagedProcess; dir: string }> {
  const minio = await binary(minioSpec, log);
  const dir = restart?.dir ?? mkdtempSync(join(tmpdir(), 'kubeqa-minio-'));
  const port = restart?.port ?? (await freePort());
  const consolePort = await freePort();
  const accessKey = 'kubeqa-test';
  const secretKey = restart?.secretKey ?? randomBytes(16).toString('hex');
  const proc = spawnService(
    'minio',
    minio,
    [
      'server',
      '--quiet',
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      join(dir, 'data'),
    ],
    {
      env: {
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_PROMETHEUS_AUTH_TYPE: 'public',
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        HOME: dir,
      },
      cwd: dir,
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitUntilReady(proc, 'health/live answers 200', async () => {
    const response = await fetch(`${url}/minio/health/live`);
    return response.ok;
  });
  const info: MinioInfo = {
    endPoint: '127.0.0.1',
    port,
    useSSL: false,
    accessKey,
    secretKey,
    bucket: 'kubeqa-test',
    url,
    metricsUrl: `${url}/minio/v2/metrics/node`,
  };
  const client = new Minio.Client({ endPoint: info.endPoint, port, useSSL: false, accessKey, secretKey });
  if (!restart) await client.makeBucket(info.bucket);
  return { info, proc, dir };
}
