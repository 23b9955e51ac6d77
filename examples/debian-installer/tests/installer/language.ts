// The installer boots to "Select a language"; English is preselected.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  flags: { fatal: true },
  async run(t) {
    await t.assert_screen('installer-language', 300);
    await t.send_key('ret');
  },
} satisfies TestModule;
