// After network detection and DHCP (QEMU user networking): "Configure the network", the hostname.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  flags: { fatal: true },
  async run(t) {
    await t.assert_screen('installer-hostname', 300);
    await t.send_key('ret');
  },
} satisfies TestModule;
