// Power off from inside the guest and check that the machine is really off.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  async run(t) {
    await t.script_run('(sleep 1; poweroff -f) >/dev/null 2>&1 &');
    await t.assert_shutdown(60);
  },
} satisfies TestModule;
