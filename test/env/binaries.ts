// The pinned test-only servers and where their binaries come from: an override directory
// (KUBEBUILDER_ASSETS for kube-apiserver and etcd, as envtest; KUBEQA_TESTENV_BIN for any, e.g.
// a directory holding a prebuilt `dex`),
// else the cache, else a build from the Go module proxy.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureGoBinary, type GoBinarySpec } from './gobuild.js';

export const KUBERNETES_VERSION = '1.35.4';
export const ETCD_VERSION = '3.6.7';
export const MINIO_VERSION = '0.0.0-20260212201848-7aac2a2c5b7c';
export const HELM_VERSION = '3.19.5';
/** Dex v2.45.1 (its go.mod says `module github.com/dexidp/dex`, so the proxy knows the tag's
 * commit only by its pseudo-version). */
export const DEX_VERSION = '0.0.0-20260303133905-11d2eeb52b42';

const [kubeMajor, kubeMinor] = KUBERNETES_VERSION.split('.');

export const kubeApiserverSpec: GoBinarySpec = {
  name: 'kube-apiserver',
  version: KUBERNETES_VERSION,
  minGo: '1.25',
  get: [`k8s.io/kubernetes/cmd/kube-apiserver@v${KUBERNETES_VERSION}`],
  pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
  ldflags: [
    `-X k8s.io/component-base/version.gitVersion=v${KUBERNETES_VERSION}`,
    `-X k8s.io/component-base/version.gitMajor=${kubeMajor}`,
    `-X k8s.io/component-base/version.gitMinor=${kubeMinor}`,
  ].join(' '),
  // k8s.io/kubernetes points its staging modules at ./staging/src; outside its own tree they
  // must be replaced by the published k8s.io/* modules of the same release (v0.<minor>.<patch>).
  async goModExtra(go) {
    const info = JSON.parse(
      await go(['mod', 'download', '-json', `k8s.io/kubernetes@v${KUBERNETES_VERSION}`]),
    ) as {
      GoMod: string;
    };
    const staging = [
      ...readFileSync(info.GoMod, 'utf8').matchAll(/^\s*(k8s\.io\/[\w.-]+) => \.\/staging\//gm),
    ].map((m) => m[1]);
    const published = `v0.${KUBERNETES_VERSION.split('.').slice(1).join('.')}`;
    return `\nreplace (\n${staging.map((mod) => `\t${mod} => ${mod} ${published}`).join('\n')}\n)\n`;
  },
};

export const etcdSpec: GoBinarySpec = {
  name: 'etcd',
  version: ETCD_VERSION,
  minGo: '1.24',
  get: [`go.etcd.io/etcd/server/v3@v${ETCD_VERSION}`],
  pkg: '.',
  mainSource:
    'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
};

export const minioSpec: GoBinarySpec = {
  name: 'minio',
  version: MINIO_VERSION,
  minGo: '1.24',
  get: [`github.com/minio/minio@v${MINIO_VERSION}`],
  pkg: 'github.com/minio/minio',
};

export const helmSpec: GoBinarySpec = {
  name: 'helm',
  version: HELM_VERSION,
  minGo: '1.24',
  get: [`helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}`],
  pkg: 'helm.sh/helm/v3/cmd/helm',
  ldflags: `-X helm.sh/helm/v3/internal/version.version=v${HELM_VERSION}`,
};

/** An OpenID Connect provider for the login tests (static passwords and a mock connector). */
export const dexSpec: GoBinarySpec = {
  name: 'dex',
  version: DEX_VERSION,
  minGo: '1.25',
  get: [`github.com/dexidp/dex/cmd/dex@v${DEX_VERSION}`],
  pkg: 'github.com/dexidp/dex/cmd/dex',
  ldflags: '-X main.version=v2.45.1',
};

export const allBinarySpecs = [kubeApiserverSpec, etcdSpec, minioSpec, helmSpec, dexSpec];

/** An override directory holding this binary, if one is configured and has it. */
function overridePath(name: string): string | undefined {
  const dirs = [process.env.KUBEQA_TESTENV_BIN];
  if (name === 'kube-apiserver' || name === 'etcd') dirs.unshift(process.env.KUBEBUILDER_ASSETS);
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** The path of a pinned test server binary, building it if needed. */
export async function binary(spec: GoBinarySpec, log?: (line: string) => void): Promise<string> {
  return overridePath(spec.name) ?? ensureGoBinary(spec, log);
}
