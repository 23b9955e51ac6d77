// helm, built from the Go module proxy: a command, not a server.
import { binary, helmSpec } from '../binaries.js';

export interface HelmInfo {
  helm: string;
  version: string;
}

export async function prepareHelm(log?: (line: string) => void): Promise<{ info: HelmInfo }> {
  return { info: { helm: await binary(helmSpec, log), version: helmSpec.version } };
}
