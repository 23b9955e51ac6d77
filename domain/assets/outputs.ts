// Assets a job produces: `PUBLISH_HDD_n=name` uploads the job's HDD_n disk as it is at the end of a
// passed job as the hdd asset `name` (any later job can use it); `FORCE_PUBLISH_HDD_n` does so even
// when the job failed; `PUBLISH_PFLASH_VARS` does the same for the UEFI variables file.
// `STORE_HDD_n=name` keeps the disk as a private asset of the job, named `<8-digit job id>-name`, for
// its children. Pure: the runner uploads, the server registers what this says.
import { validateAssetName } from './types.js';

export interface OutputAsset {
  /** The disk the job leaves behind: HDD_n or UEFI_PFLASH_VARS. */
  from: string;
  type: 'hdd';
  /** The asset name it is registered under. */
  name: string;
  /** Private to the job (STORE_HDD_n): not group-managed, used by its children. */
  private: boolean;
}

export function privateAssetName(jobId: number, name: string): string {
  return `${String(jobId).padStart(8, '0')}-${name}`;
}

export function outputAssets(
  settings: Readonly<Record<string, string>>,
  job: { id: number; passed: boolean },
): OutputAsset[] {
  const outputs: OutputAsset[] = [];
  for (const [key, value] of Object.entries(settings)) {
    if (!value) continue;
    let match = /^(FORCE_)?PUBLISH_HDD_(\d+)$/.exec(key);
    if (match) {
      const forced = match[1] !== undefined;
      if (!job.passed && !forced) continue;
      outputs.push({ from: `HDD_${match[2]}`, type: 'hdd', name: validateAssetName(value), private: false });
      continue;
    }
    if (key === 'PUBLISH_PFLASH_VARS' && job.passed) {
      outputs.push({ from: 'UEFI_PFLASH_VARS', type: 'hdd', name: validateAssetName(value), private: false });
      continue;
    }
    match = /^STORE_HDD_(\d+)$/.exec(key);
    if (match && job.passed) {
      outputs.push({
        from: `HDD_${match[1]}`,
        type: 'hdd',
        name: privateAssetName(job.id, validateAssetName(value)),
        private: true,
      });
    }
  }
  // The same name published twice (PUBLISH and FORCE_PUBLISH of one disk) is one upload.
  return outputs.filter((o, i) => outputs.findIndex((p) => p.name === o.name) === i);
}
