// Uploading the assets a job produced (PUBLISH_HDD_n, FORCE_PUBLISH_HDD_n, PUBLISH_PFLASH_VARS,
// STORE_HDD_n; domain/assets/outputs.ts decides which) to the web API with the job's token, at the
// end of the job. The file is streamed (the server streams it on into the store, in parts for S3),
// so a multi-GB image never sits in memory. `diskOf` gives the path of a standalone image for a
// disk setting (HDD_1, UEFI_PFLASH_VARS): the runner flattens its qcow2 overlay first
// (`qemu-img convert`), since an overlay alone is useless to later jobs.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { text as readText } from 'node:stream/consumers';
import { type OutputAsset, outputAssets } from '../../domain/assets/outputs.js';
import { KubeqaError } from '../../domain/errors.js';

export interface PublishOptions {
  apiUrl: string;
  jobId: number;
  /** The job's token (X-Kubeqa-Job-Token). */
  token: string;
  settings: Readonly<Record<string, string>>;
  passed: boolean;
  /** The standalone image of a disk setting, or undefined when the job has none. */
  diskOf: (from: string) => string | undefined;
  /** A PEM CA bundle to trust for an https API. */
  ca?: Buffer;
}

export interface PublishedAsset extends OutputAsset {
  size: number;
  sha256: string;
}

async function upload(options: PublishOptions, output: OutputAsset, path: string): Promise<PublishedAsset> {
  const size = (await stat(path)).size;
  const url = new URL(
    `/api/v1/jobs/${options.jobId}/assets/hdd/${encodeURIComponent(output.name)}`,
    options.apiUrl,
  );
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'PUT',
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
          'x-kubeqa-job-token': options.token,
        },
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        readText(res)
          .then((text) => {
            if (res.statusCode === 201) {
              const body = JSON.parse(text) as { size: number; sha256: string };
              resolve({ ...output, size: body.size, sha256: body.sha256 });
              return;
            }
            reject(
              new KubeqaError(
                'KQ_ERR_STORAGE',
                `uploading ${output.from} as hdd/${output.name} failed: ${res.statusCode} ${text.slice(0, 500)}`,
              ),
            );
          })
          .catch(reject);
      },
    );
    req.once('error', (error) =>
      reject(new KubeqaError('KQ_ERR_UNREACHABLE', `uploading hdd/${output.name}: ${error.message}`)),
    );
    const file = createReadStream(path, { highWaterMark: 1 << 20 });
    file.once('error', (error) => req.destroy(error));
    file.pipe(req);
  });
}

/** Upload every asset the job's settings publish; one without a disk is a clear error. */
export async function publishOutputs(options: PublishOptions): Promise<PublishedAsset[]> {
  const outputs = outputAssets(options.settings, { id: options.jobId, passed: options.passed });
  const published: PublishedAsset[] = [];
  for (const output of outputs) {
    const path = options.diskOf(output.from);
    if (!path) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `the job publishes ${output.from} as ${output.name}, but it has no ${output.from}`,
        `set ${output.from} (or NUMDISKS) so that the job has that disk`,
      );
    }
    published.push(await upload(options, output, path));
  }
  return published;
}
