#!/usr/bin/env node
// The kubeqa command line. Each command lives in commands/<name>.ts and is registered below.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isKubeqaError } from '../domain/errors.js';
import { packageRoot } from '../runtime/package-root.js';
import type { Command } from './command.js';
import { apiCommand } from './commands/api.js';
import { cacheCommand } from './commands/cache.js';
import { operatorCommand } from './commands/operator.js';
import { runCommand } from './commands/run.js';
import { serverCommand } from './commands/server.js';
import { upCommand } from './commands/up.js';
import { workerCommand } from './commands/worker.js';

const commands: Command[] = [
  upCommand,
  serverCommand,
  apiCommand,
  operatorCommand,
  cacheCommand,
  runCommand,
  workerCommand,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'usage: kubeqa <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'kubeqa <command> --help shows the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`kubeqa ${version()}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`kubeqa: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isKubeqaError(error)) process.stderr.write(`kubeqa: ${error.code}: ${error.message}\n`);
    else process.stderr.write(`kubeqa: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
