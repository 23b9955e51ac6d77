// How to start this kubeqa again as a child process (the local executor runs `kubeqa worker
// run-job` this way): the same Node with the compiled CLI, or with tsx when running from source.
// `entry` 'worker' starts cli/worker-main (only the worker command, much quicker to start).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from './package-root.js';

/** [executable, leading arguments] that run the kubeqa CLI; append the command's arguments. */
export function kubeqaCommand(entry: 'main' | 'worker' = 'main'): [string, string[]] {
  const root = packageRoot();
  const name = entry === 'worker' ? 'worker-main' : 'main';
  const fromSource = fileURLToPath(import.meta.url).endsWith('.ts');
  const compiled = join(root, 'dist', 'cli', `${name}.js`);
  if (!fromSource && existsSync(compiled)) return [process.execPath, [compiled]];
  // tsx as a URL: the child may run in any directory, where a bare 'tsx' would not resolve
  return [process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'cli', `${name}.ts`)]];
}
