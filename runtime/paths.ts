// Where kubeqa keeps its data in the embedded mode: $KUBEQA_HOME, else $XDG_DATA_HOME/kubeqa,
// else ~/.local/share/kubeqa.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function dataHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.KUBEQA_HOME) return env.KUBEQA_HOME;
  const xdg = env.XDG_DATA_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.local', 'share'), 'kubeqa');
}
