// The browser code is type-checked with its own settings (DOM library, bundler resolution): the
// main tsconfig excludes webui/ui/client, so this test is where `./kubeqa test` checks it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('webui/ui/client', () => {
  it('type-checks strictly', async () => {
    const result = await run(process.execPath, [
      'node_modules/typescript/bin/tsc',
      '-p',
      'webui/ui/client/tsconfig.json',
    ]).catch((error: { stdout: string; code: number }) => error);
    expect('code' in result ? result.stdout : '').toBe('');
  }, 120_000);
});
