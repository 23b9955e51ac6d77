import { describe, expect, it } from 'vitest';
import { operatorConfigFromEnv } from '../../operator/config.js';

const base = {
  KUBEQA_DATABASE_URL: 'postgres://kubeqa:pw@db:5432/kubeqa',
  KUBEQA_API_URL: 'http://kubeqa-webui:9526',
  KUBEQA_RUNNER_IMAGE: 'ghcr.io/kubeqa/worker:0.1.0',
  POD_NAME: 'kubeqa-operator-abc',
  POD_NAMESPACE: 'kubeqa',
};

describe('operatorConfigFromEnv', () => {
  it('fills defaults', () => {
    const config = operatorConfigFromEnv(base);
    expect(config.leaderElection).toEqual({
      enabled: true,
      namespace: 'kubeqa',
      name: 'kubeqa-operator',
      identity: 'kubeqa-operator-abc',
    });
    expect(config.healthPort).toBe(8080);
    expect(config.pods).toMatchObject({
      kvmDevice: { kind: 'hostPath' },
      kvmGroupId: 36,
      runAsUser: 1000,
      cacheHostPath: '/var/lib/kubeqa/cache',
    });
  });

  it('reads a device-plugin KVM resource', () => {
    expect(
      operatorConfigFromEnv({ ...base, KUBEQA_KVM_DEVICE: 'resource:devices.kubevirt.io/kvm' }).pods
        .kvmDevice,
    ).toEqual({
      kind: 'resource',
      name: 'devices.kubevirt.io/kvm',
    });
  });

  it('refuses bad values, naming the variable and what it accepts', () => {
    expect(() => operatorConfigFromEnv({ ...base, KUBEQA_DATABASE_URL: '' })).toThrow(
      /KUBEQA_DATABASE_URL is not set/,
    );
    expect(() => operatorConfigFromEnv({ ...base, KUBEQA_DATABASE_URL: 'mysql://x' })).toThrow(
      /not a PostgreSQL URL/,
    );
    expect(() => operatorConfigFromEnv({ ...base, KUBEQA_HEALTH_PORT: 'http' })).toThrow(
      /KUBEQA_HEALTH_PORT='http' is not valid.*an integer from 0 to 65535/,
    );
    expect(() => operatorConfigFromEnv({ ...base, KUBEQA_KVM_DEVICE: 'magic' })).toThrow(
      /KUBEQA_KVM_DEVICE accepts hostPath or resource:/,
    );
    expect(() => operatorConfigFromEnv({ ...base, KUBEQA_LEADER_ELECTION: 'maybe' })).toThrow(
      /true or false/,
    );
    expect(() => operatorConfigFromEnv({ ...base, KUBEQA_IMAGE_PULL_POLICY: 'Sometimes' })).toThrow(
      /Always, IfNotPresent or Never/,
    );
  });
});
