import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../env/index.js';

describe('helm built by the harness', () => {
  it('reports the pinned version', async () => {
    const { helm, version } = await testEnv.helm();
    const { stdout } = await promisify(execFile)(helm, ['version', '--short']);
    expect(stdout.trim()).toMatch(new RegExp(`^v${version.replace(/\./g, '\\.')}`));
  });
});
