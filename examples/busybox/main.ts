// Schedule of the busybox demo: boot to a shell, run commands, power off.
import type { Scheduler } from '../../domain/runner/testapi.js';

export default function schedule(s: Scheduler): void {
  s.loadtest('boot/boot_to_shell');
  s.loadtest('console/commands');
  s.loadtest('shutdown/poweroff');
}
