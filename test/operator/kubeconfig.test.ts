import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCredentials } from '../../operator/kube/kubeconfig.js';

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-kubeconfig-'));
  const path = join(dir, 'config');
  writeFileSync(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: c',
      'contexts: [{name: c, context: {cluster: k, user: u}}]',
      `clusters: [{name: k, cluster: ${JSON.stringify({ server: 'https://10.0.0.1:6443/', ...cluster })}}]`,
      `users: [{name: u, user: ${JSON.stringify(user)}}]`,
    ].join('\n'),
  );
  return path;
}

describe('loadCredentials', () => {
  it('reads the current context: server, CA, bearer token', () => {
    const ca = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64');
    const credentials = loadCredentials(
      kubeconfig({ token: 'abc' }, { 'certificate-authority-data': ca }),
      {},
    );
    expect(credentials?.server).toBe('https://10.0.0.1:6443');
    expect(credentials?.options.headers).toEqual({ authorization: 'Bearer abc' });
    expect(String(credentials?.options.ca)).toContain('BEGIN CERTIFICATE');
    expect(credentials?.options.rejectUnauthorized).toBe(true);
  });

  it('keeps a token file to re-read, and honours insecure-skip-tls-verify', () => {
    const credentials = loadCredentials(
      kubeconfig({ tokenFile: '/var/run/token' }, { 'insecure-skip-tls-verify': true }),
      {},
    );
    expect(credentials?.tokenFile).toBe('/var/run/token');
    expect(credentials?.options.rejectUnauthorized).toBe(false);
  });

  it('leaves exec plugins to client-node', () => {
    expect(loadCredentials(kubeconfig({ exec: { command: 'aws' } }), {})).toBeUndefined();
  });

  it('says what is wrong with a kubeconfig it cannot use', () => {
    expect(() => loadCredentials('/nonexistent/kubeconfig', {})).toThrow(/cannot read the kubeconfig/);
  });
});
