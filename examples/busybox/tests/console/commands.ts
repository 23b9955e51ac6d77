// Commands on the shell console: exit codes, output, and a log file uploaded from the guest.
import type { TestModule } from '../../../../domain/runner/testapi.js';

export default {
  async run(t) {
    await t.assert_script_run('test -d /proc/1');
    await t.assert_script_run('mkdir -p /tmp/demo && echo kubeqa > /tmp/demo/hello');
    await t.assert_script_run('grep -q kubeqa /tmp/demo/hello');
    const kernel = await t.script_output('uname -s');
    if (kernel.trim() !== 'Linux') throw new Error(`uname -s said '${kernel}'`);
    const cmdline = await t.script_output('cat /proc/cmdline');
    if (!cmdline.includes('rdinit=/sbin/init')) throw new Error(`unexpected kernel command line: ${cmdline}`);
    const status = await t.script_run('false');
    if (status !== 1) throw new Error(`'false' exited with ${status}, expected 1`);
    t.record_info('kernel', `${kernel.trim()} ${cmdline.trim()}`);
    // Typed on the VGA console (tty1) by keyboard, seen on the serial log through /dev/ttyS0.
    await t.type_string('echo typed-$((6 * 7)) > /dev/ttyS0\n');
    await t.wait_serial('typed-42', 30);
    await t.upload_logs('/tmp/demo/hello');
    await t.save_screenshot();
  },
} satisfies TestModule;
