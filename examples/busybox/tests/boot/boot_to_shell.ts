// The guest boots (kernel + busybox initramfs) to root shells on ttyS0, ttyS1 and tty1.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  flags: { fatal: true, milestone: true },
  async run(t) {
    await t.wait_serial('kubeqa busybox guest: up', 120);
    await t.wait_serial('kubeqa-guest# ', 60);
    await t.save_screenshot();
  },
} satisfies TestModule;
