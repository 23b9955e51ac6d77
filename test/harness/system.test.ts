// A missing tool is a loud failure that says exactly how to install it.
import { describe, expect, it } from 'vitest';
import { findExecutable, MissingToolError, requireCommand, requireFile } from '../env/system.js';

describe('system prerequisites', () => {
  it('finds installed commands', () => {
    expect(requireCommand('sh', ['dash'])).toMatch(/\/sh$/);
    expect(findExecutable('definitely-not-a-command-kubeqa')).toBeUndefined();
  });

  it('fails with the apt-get command that installs a missing tool', () => {
    let error: unknown;
    try {
      requireCommand('definitely-not-a-command-kubeqa', ['kubeqa-imaginary-package']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingToolError);
    expect((error as MissingToolError).code).toBe('KQ_ERR_MISSING_TOOL');
    expect((error as Error).message).toContain(
      "the command 'definitely-not-a-command-kubeqa' is not installed",
    );
    expect((error as Error).message).toContain('sudo apt-get install -y kubeqa-imaginary-package');
  });

  it('names the files it looked for', () => {
    expect(() => requireFile(['/nonexistent/a', '/nonexistent/b'], ['pkg-a'], 'the thing')).toThrow(
      /the thing \(looked for \/nonexistent\/a, \/nonexistent\/b\) is not installed[\s\S]*apt-get install -y pkg-a/,
    );
  });
});
