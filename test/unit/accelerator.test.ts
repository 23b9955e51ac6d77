import { describe, expect, it } from 'vitest';
import {
  type AcceleratorFacts,
  decideAccelerator,
  KVM_SLOWER_THAN_TCG_FACTOR,
  probesNeeded,
} from '../../worker-image/qemu/accelerator.js';
import {
  detectAccelerator,
  devKvmState,
  probeImage,
  readCpuFlags,
  runProbe,
} from '../../worker-image/qemu/kvm-probe.js';
import { testEnv } from '../env/index.js';

const base: AcceleratorFacts = { forceTcg: false, devKvm: 'ok', cpuFlags: new Set(['fpu', 'vmx']) };

describe('decideAccelerator', () => {
  it('honours QEMU_NO_KVM', () => {
    expect(decideAccelerator({ ...base, forceTcg: true, kvmProbe: { ok: true, ms: 50 } })).toMatchObject({
      accel: 'tcg',
      reason: expect.stringContaining('QEMU_NO_KVM'),
    });
  });
  it('falls back when /dev/kvm is missing or not accessible', () => {
    expect(decideAccelerator({ ...base, devKvm: 'absent' }).accel).toBe('tcg');
    const noAccess = decideAccelerator({ ...base, devKvm: 'no-access' });
    expect(noAccess.accel).toBe('tcg');
    expect(noAccess.reason).toMatch(/kvm group/);
  });
  it('does not trust /dev/kvm when the CPU has no vmx/svm', () => {
    const decision = decideAccelerator({
      ...base,
      cpuFlags: new Set(['fpu', 'sse2']),
      kvmProbe: { ok: true, ms: 10 },
    });
    expect(decision.accel).toBe('tcg');
    expect(decision.reason).toMatch(/vmx\/svm/);
  });
  it('falls back when the probe guest fails or hangs', () => {
    const decision = decideAccelerator({
      ...base,
      kvmProbe: { ok: false, ms: 10_000, error: 'no answer within 10000 ms' },
    });
    expect(decision).toMatchObject({ accel: 'tcg', reason: expect.stringContaining('no answer') });
  });
  it('falls back when KVM is much slower than software emulation', () => {
    const slow = { ok: true, ms: 4100 };
    expect(decideAccelerator({ ...base, kvmProbe: slow, tcgProbe: { ok: true, ms: 110 } }).accel).toBe('tcg');
    const borderline = { ok: true, ms: 110 * KVM_SLOWER_THAN_TCG_FACTOR };
    expect(decideAccelerator({ ...base, kvmProbe: borderline, tcgProbe: { ok: true, ms: 110 } }).accel).toBe(
      'kvm',
    );
  });
  it('uses KVM when everything says it works (AMD too)', () => {
    expect(
      decideAccelerator({
        ...base,
        cpuFlags: new Set(['svm']),
        kvmProbe: { ok: true, ms: 40 },
        tcgProbe: { ok: true, ms: 110 },
      }).accel,
    ).toBe('kvm');
  });
  it('asks for probes only when KVM is plausible', () => {
    expect(probesNeeded(base)).toEqual({ kvm: true, tcg: true });
    expect(probesNeeded({ ...base, cpuFlags: new Set() })).toEqual({ kvm: false, tcg: false });
    expect(probesNeeded({ ...base, forceTcg: true })).toEqual({ kvm: false, tcg: false });
  });
});

describe('the probe guest', () => {
  it('is a 512-byte boot sector', () => {
    const image = probeImage();
    expect(image).toHaveLength(512);
    expect(image[510]).toBe(0x55);
    expect(image[511]).toBe(0xaa);
  });

  it('runs to its marker under real QEMU with software emulation', async () => {
    const { qemu } = await testEnv.qemu();
    const result = await runProbe('tcg', qemu);
    expect(result).toMatchObject({ ok: true });
  });

  it('reports a failure instead of throwing when QEMU cannot run', async () => {
    const result = await runProbe('tcg', '/nonexistent/qemu-system-x86_64');
    expect(result.ok).toBe(false);
    expect(result.error).toBeTruthy();
  });

  it('decides for this host consistently with its facts', async () => {
    const { qemu } = await testEnv.qemu();
    const lines: string[] = [];
    const decision = await detectAccelerator({ qemu, log: (line) => lines.push(line) });
    const flags = readCpuFlags();
    if (devKvmState() !== 'ok' || !(flags.has('vmx') || flags.has('svm'))) expect(decision.accel).toBe('tcg');
    expect(lines[0]).toMatch(/^accelerator: (kvm|tcg): /);
  });
});
