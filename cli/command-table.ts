// The commands of the kubeqa CLI, each loaded only when it is used: the web server, the
// Kubernetes client and the database drivers take about a second of CPU to load, and
// `kubeqa run` (one job on this machine) needs none of them.
import type { Command } from './command.js';

export const commandLoaders: Record<string, () => Promise<Command>> = {
  up: async () => (await import('./commands/up.js')).upCommand,
  server: async () => (await import('./commands/server.js')).serverCommand,
  api: async () => (await import('./commands/api.js')).apiCommand,
  operator: async () => (await import('./commands/operator.js')).operatorCommand,
  cache: async () => (await import('./commands/cache.js')).cacheCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
  worker: async () => (await import('./commands/worker.js')).workerCommand,
};

/** The command called `name`, or undefined when there is none. */
export function loadCommand(name: string): Promise<Command> | undefined {
  return Object.hasOwn(commandLoaders, name) ? commandLoaders[name]?.() : undefined;
}

/** Every command, in the order of the table (for the usage text). */
export function loadAllCommands(): Promise<Command[]> {
  return Promise.all(Object.values(commandLoaders).map((load) => load()));
}
