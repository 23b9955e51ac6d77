// Schedule of the Debian 12 installer demo: the netboot installer from its first dialog through
// language, location, keyboard, network (DHCP), hostname and domain.
import type { Scheduler } from '../../domain/runner/testapi.js';

export default function schedule(s: Scheduler): void {
  s.loadtest('installer/language');
  s.loadtest('installer/location');
  s.loadtest('installer/keyboard');
  s.loadtest('installer/hostname');
  s.loadtest('installer/domain');
}
