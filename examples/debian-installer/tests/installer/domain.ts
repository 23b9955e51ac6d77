// The domain name question follows the hostname; the demo ends here (a full install needs the
// Debian mirror, which the test machines cannot reach).
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  flags: { fatal: true },
  async run(t) {
    await t.assert_screen('installer-domain', 60);
    await t.send_key('ret');
  },
} satisfies TestModule;
