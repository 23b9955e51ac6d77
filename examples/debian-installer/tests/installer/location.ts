// "Select your location": the shortlist for English, United States preselected.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  flags: { fatal: true },
  async run(t) {
    await t.assert_screen('installer-location', 60);
    await t.send_key('ret');
  },
} satisfies TestModule;
