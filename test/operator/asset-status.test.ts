// The Asset CR's pure status logic: import targets from the spec, typed failure reasons, the
// status of each import step, and when an import is settled.
import { describe, expect, it } from 'vitest';
import { KubeqaError } from '../../domain/errors.js';
import {
  type AssetObject,
  assetStatusChanged,
  failedStatus,
  failureReason,
  importingStatus,
  importSettled,
  importTarget,
  readyStatus,
  specOrLifeChanged,
} from '../../operator/reconcilers/asset-status.js';

const now = new Date('2026-11-21T10:00:00Z');
const later = new Date('2026-11-21T10:05:00Z');

function asset(spec: AssetObject['spec'], generation = 1, status?: AssetObject['status']): AssetObject {
  return { metadata: { name: 'a', namespace: 'ns', generation }, spec, ...(status ? { status } : {}) };
}

describe('importTarget', () => {
  it('names the asset after the URL, or spec.fileName, and keys it by type', () => {
    expect(
      importTarget({ type: 'iso', source: { url: 'https://d.example/x/Foo%2B1.iso' } }, undefined),
    ).toEqual({
      type: 'iso',
      name: 'Foo+1.iso',
      key: 'iso/Foo+1.iso',
      source: 'https://d.example/x/Foo%2B1.iso',
    });
    expect(
      importTarget(
        { type: 'hdd', fileName: 'disk.qcow2', source: { s3Key: 'in/b.img' }, sha256: 'A'.repeat(64) },
        'bucket',
      ),
    ).toEqual({
      type: 'hdd',
      name: 'disk.qcow2',
      key: 'hdd/disk.qcow2',
      source: 's3://bucket/in/b.img',
      sha256: 'a'.repeat(64),
    });
  });

  it('refuses specs an import cannot use, with the reason', () => {
    expect(() => importTarget({ type: 'iso', source: { s3Key: 'x.iso' } }, undefined)).toThrow(
      /needs an S3 asset store/,
    );
    expect(() => importTarget({ type: 'iso', source: { url: 'https://h/' } }, undefined)).toThrow(
      /names no file/,
    );
    expect(() => importTarget({ type: 'iso', source: { url: 'ftp://h/x.iso' } }, undefined)).toThrow(/http/);
    expect(() => importTarget({ type: 'floppy', source: { url: 'https://h/x' } }, undefined)).toThrow(
      /asset type/,
    );
    expect(() => importTarget({ type: 'iso', source: { url: 'https://h/..%2Fetc' } }, undefined)).toThrow(
      /not a valid asset name/,
    );
    expect(() => importTarget({ type: 'iso', source: {} }, undefined)).toThrow(/exactly one/);
  });
});

describe('failure reasons', () => {
  it('maps error codes to typed reasons', () => {
    expect(failureReason(new KubeqaError('KQ_ERR_CHECKSUM_MISMATCH', 'x'))).toBe('ChecksumMismatch');
    expect(failureReason(new KubeqaError('KQ_ERR_DOWNLOAD', 'x'))).toBe('SourceUnavailable');
    expect(failureReason(new KubeqaError('KQ_ERR_INVALID_ASSET', 'x'))).toBe('InvalidSpec');
    expect(failureReason(new KubeqaError('KQ_ERR_STORAGE', 'x'))).toBe('StoreFailed');
    expect(failureReason(new Error('boom'))).toBe('ImportFailed');
  });
});

describe('status steps', () => {
  const spec = { type: 'iso', source: { url: 'https://h/x.iso' }, size: 1000 };
  const target = importTarget(spec, undefined);

  it('reports progress, then Ready with location, keeping the transition time while the status holds', () => {
    const a = asset(spec, 3);
    const importing = importingStatus(a, target, { bytes: 250 }, now);
    expect(importing).toMatchObject({ phase: 'Importing', progress: 25, observedGeneration: 3 });
    expect(importing.conditions?.[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'Importing',
      observedGeneration: 3,
      lastTransitionTime: '2026-11-21T10:00:00Z',
    });
    const more = importingStatus(
      { ...a, status: importing },
      target,
      { bytes: 500, total: 1000, attempt: 2 },
      later,
    );
    expect(more.progress).toBe(50);
    expect(more.conditions?.[0]?.lastTransitionTime).toBe('2026-11-21T10:00:00Z');
    expect(more.conditions?.[0]?.message).toContain('attempt 2');
    expect(assetStatusChanged(importing, more)).toBe(true);
    const ready = readyStatus(
      { ...a, status: more },
      target,
      { size: 1000, sha256: 'f'.repeat(64), location: 's3://b/iso/x.iso' },
      later,
    );
    expect(ready).toMatchObject({ phase: 'Ready', progress: 100, location: 's3://b/iso/x.iso' });
    expect(ready.conditions?.[0]).toMatchObject({
      status: 'True',
      reason: 'Imported',
      lastTransitionTime: '2026-11-21T10:05:00Z',
    });
    expect(importSettled({ ...a, status: ready })).toBe(true);
    // A new generation is not settled by the old one's status.
    expect(importSettled({ ...asset(spec, 4), status: ready })).toBe(false);
    expect(assetStatusChanged(ready, { ...ready })).toBe(false);
  });

  it('fails with the reason, for the generation it was asked for', () => {
    const failed = failedStatus(
      asset(spec, 2),
      new KubeqaError('KQ_ERR_CHECKSUM_MISMATCH', 'iso/x.iso: checksum mismatch'),
      now,
    );
    expect(failed).toMatchObject({
      phase: 'Failed',
      reason: 'iso/x.iso: checksum mismatch',
      observedGeneration: 2,
    });
    expect(failed.conditions?.[0]).toMatchObject({ status: 'False', reason: 'ChecksumMismatch' });
    expect(importSettled({ ...asset(spec, 2), status: failed })).toBe(true);
  });
});

describe('specOrLifeChanged', () => {
  it('is true for a new generation, another uid or a deletion, not for a status write', () => {
    const before = { metadata: { generation: 1, uid: 'u1' } };
    expect(specOrLifeChanged(before, { metadata: { generation: 1, uid: 'u1' } })).toBe(false);
    expect(specOrLifeChanged(before, { metadata: { generation: 2, uid: 'u1' } })).toBe(true);
    expect(specOrLifeChanged(before, { metadata: { generation: 1, uid: 'u2' } })).toBe(true);
    expect(
      specOrLifeChanged(before, {
        metadata: { generation: 1, uid: 'u1', deletionTimestamp: '2026-11-21T10:00:00Z' },
      }),
    ).toBe(true);
  });
});
