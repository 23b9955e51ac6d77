// "Configure the keyboard": American English.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  flags: { fatal: true },
  async run(t) {
    await t.assert_screen('installer-keyboard', 120);
    await t.send_key('ret');
  },
} satisfies TestModule;
