// etcd + kube-apiserver, envtest-style: a real control plane API without controllers or kubelets.
// Certificates (CA, serving, admin client, service-account keys) are made with openssl per run;
// the admin user is in system:masters; RBAC is on, so authorisation tests mean something.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binary, etcdSpec, kubeApiserverSpec } from '../binaries.js';
import { freePort } from '../ports.js';
import { type ManagedProcess, spawnService, waitUntilReady } from '../processes.js';
import { requireCommand } from '../system.js';

const execFileAsync = promisify(execFile);

export interface KubeInfo {
  /** https://127.0.0.1:port */
  server: string;
  /** A kubeconfig file with cluster-admin (system:masters) access. */
  kubeconfig: string;
  /** PEM of the cluster CA, and of the admin client certificate and key (for clients without a kubeconfig loader). */
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  /** The service-account signing key pair, for tests that mint tokens. */
  serviceAccountKeyFile: string;
  etcdUrl: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const bin = requireCommand('openssl', ['openssl']);
  await execFileAsync(bin, args, { cwd });
}

/** CA, apiserver serving certificate, admin client certificate and a service-account key pair. */
async function makeCertificates(dir: string): Promise<void> {
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '2',
      '-subj',
      '/CN=kubeqa-test-ca',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'serving.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1\n' +
      'extendedKeyUsage=serverAuth\n',
  );
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  await openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'serving.key',
      '-out',
      'serving.csr',
      '-subj',
      '/CN=kube-apiserver',
    ],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'serving.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'serving.crt',
      '-days',
      '2',
      '-extfile',
      'serving.ext',
    ],
    dir,
  );
  await openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'admin.key',
      '-out',
      'admin.csr',
      '-subj',
      '/O=system:masters/CN=kubeqa-test-admin',
    ],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'admin.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'admin.crt',
      '-days',
      '2',
      '-extfile',
      'client.ext',
    ],
    dir,
  );
  await openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  await openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function writeKubeconfig(dir: string, server: string): string {
  const b64 = (file: string) => readFileSync(join(dir, file)).toString('base64');
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify(
      {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'kubeqa-test', cluster: { server, 'certificate-authority-data': b64('ca.crt') } }],
        users: [
          {
            name: 'admin',
            user: { 'client-certificate-data': b64('admin.crt'), 'client-key-data': b64('admin.key') },
          },
        ],
        contexts: [
          { name: 'kubeqa-test', context: { cluster: 'kubeqa-test', user: 'admin', namespace: 'default' } },
        ],
        'current-context': 'kubeqa-test',
      },
      null,
      2,
    ),
    { mode: 0o600 },
  );
  return kubeconfig;
}

/** GET a path on the apiserver with the admin certificate; resolves with status and body. */
export function adminGet(info: KubeInfo, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${info.server}${path}`,
      {
        ca: readFileSync(info.caFile),
        cert: readFileSync(info.clientCertFile),
        key: readFileSync(info.clientKeyFile),
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export async function startKube(
  log?: (line: string) => void,
): Promise<{ info: KubeInfo; procs: ManagedProcess[]; dir: string }> {
  const [etcdBin, apiserverBin] = await Promise.all([binary(etcdSpec, log), binary(kubeApiserverSpec, log)]);
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-kube-'));
  const certsReady = makeCertificates(dir);
  const clientPort = await freePort();
  const peerPort = await freePort();
  const etcdUrl = `http://127.0.0.1:${clientPort}`;
  const etcd = spawnService(
    'etcd',
    etcdBin,
    [
      '--data-dir',
      join(dir, 'etcd'),
      '--listen-client-urls',
      etcdUrl,
      '--advertise-client-urls',
      etcdUrl,
      '--listen-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${peerPort}`,
      '--initial-cluster',
      `default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync',
      '--log-level',
      'warn',
    ],
    { cwd: dir },
  );
  await certsReady;
  await waitUntilReady(etcd, 'health answers', async () => {
    const response = await fetch(`${etcdUrl}/health`);
    return response.ok;
  });
  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  const apiserver = spawnService(
    'kube-apiserver',
    apiserverBin,
    [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${port}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--tls-cert-file=${join(dir, 'serving.crt')}`,
      `--tls-private-key-file=${join(dir, 'serving.key')}`,
      `--client-ca-file=${join(dir, 'ca.crt')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      // No controller manager runs here: nothing would create the default ServiceAccount.
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=false',
      '--endpoint-reconciler-type=none',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      `--cert-dir=${join(dir, 'apiserver-certs')}`,
      '-v=1',
    ],
    { cwd: dir },
  );
  const info: KubeInfo = {
    server,
    kubeconfig: writeKubeconfig(dir, server),
    caFile: join(dir, 'ca.crt'),
    clientCertFile: join(dir, 'admin.crt'),
    clientKeyFile: join(dir, 'admin.key'),
    serviceAccountKeyFile: join(dir, 'sa.key'),
    etcdUrl,
  };
  await waitUntilReady(
    apiserver,
    '/readyz answers ok',
    async () => {
      const { status } = await adminGet(info, '/readyz');
      return status === 200;
    },
    120_000,
    100,
  );
  return { info, procs: [apiserver, etcd], dir };
}
