// Which QEMU accelerator to use: the decision alone, from facts gathered elsewhere (kvm-probe.ts).
// /dev/kvm being present is not enough: on some hosts it exists while guests hang or crawl under
// it (nested virtualisation without hardware support). KVM is chosen only when the CPU advertises
// virtualisation, the device can be opened, and a tiny guest really runs under it at least as
// fast as under software emulation.

export type Accelerator = 'kvm' | 'tcg';

export interface ProbeResult {
  /** Did the probe guest reach 64-bit mode, write its marker and exit? */
  ok: boolean;
  /** Wall time of the probe run. */
  ms: number;
  /** What went wrong, when ok is false (timeout, QEMU error text). */
  error?: string;
}

export interface AcceleratorFacts {
  /** QEMU_NO_KVM=1 (or an explicit setting) forces software emulation. */
  forceTcg: boolean;
  /** /dev/kvm: missing, present but not openable read-write, or usable. */
  devKvm: 'absent' | 'no-access' | 'ok';
  /** CPU flags from /proc/cpuinfo (vmx = Intel VT-x, svm = AMD-V). */
  cpuFlags: ReadonlySet<string>;
  /** The probe guest under KVM, if it was run. */
  kvmProbe?: ProbeResult;
  /** The same probe under TCG, as the yardstick. */
  tcgProbe?: ProbeResult;
}

export interface AcceleratorDecision {
  accel: Accelerator;
  /** One line a person can act on, logged by the caller. */
  reason: string;
}

/** What the probes still need to tell, given the facts so far. */
export function probesNeeded(facts: AcceleratorFacts): { kvm: boolean; tcg: boolean } {
  const eligible = !facts.forceTcg && facts.devKvm === 'ok' && hasVirtualisation(facts.cpuFlags);
  return { kvm: eligible && !facts.kvmProbe, tcg: eligible && !facts.tcgProbe };
}

function hasVirtualisation(flags: ReadonlySet<string>): boolean {
  return flags.has('vmx') || flags.has('svm');
}

/** A KVM probe slower than this multiple of the TCG probe means KVM is not really accelerating. */
export const KVM_SLOWER_THAN_TCG_FACTOR = 2;

export function decideAccelerator(facts: AcceleratorFacts): AcceleratorDecision {
  if (facts.forceTcg) return { accel: 'tcg', reason: 'software emulation (TCG) forced by QEMU_NO_KVM' };
  if (facts.devKvm === 'absent') {
    return {
      accel: 'tcg',
      reason: 'no /dev/kvm on this host: using software emulation (TCG), expect ~10x slower guests',
    };
  }
  if (facts.devKvm === 'no-access') {
    return {
      accel: 'tcg',
      reason:
        '/dev/kvm exists but cannot be opened read-write (add the user to the kvm group): using software emulation (TCG)',
    };
  }
  if (!hasVirtualisation(facts.cpuFlags)) {
    return {
      accel: 'tcg',
      reason:
        '/dev/kvm exists but the CPU advertises no vmx/svm (nested virtualisation without hardware support; guests hang here): using software emulation (TCG)',
    };
  }
  const kvm = facts.kvmProbe;
  if (!kvm) return { accel: 'tcg', reason: 'KVM was not probed: using software emulation (TCG)' };
  if (!kvm.ok) {
    return {
      accel: 'tcg',
      reason: `KVM probe guest failed (${kvm.error ?? 'no marker'}): using software emulation (TCG)`,
    };
  }
  const tcg = facts.tcgProbe;
  if (tcg?.ok && kvm.ms > tcg.ms * KVM_SLOWER_THAN_TCG_FACTOR) {
    return {
      accel: 'tcg',
      reason: `KVM probe took ${kvm.ms} ms against ${tcg.ms} ms under TCG (KVM is not accelerating here): using software emulation (TCG)`,
    };
  }
  return { accel: 'kvm', reason: `KVM works (probe guest ran in ${kvm.ms} ms): using hardware acceleration` };
}

/**
 * The TIMEOUT_SCALE guests on this accelerator need: 1 under KVM, 3 under software emulation
 * (TCG runs the demo guests about three times slower here, docs/benchmarks.md / FACTS).
 */
export function timeoutScaleFor(accel: Accelerator): number {
  return accel === 'kvm' ? 1 : 3;
}
