#!/usr/bin/env node
// The kubeqa command line. Each command lives in commands/<name>.ts and is registered in
// command-table.ts (loaded only when used).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isKubeqaError } from '../domain/errors.js';
import { packageRoot } from '../runtime/package-root.js';
import { loadAllCommands, loadCommand } from './command-table.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function usage(): Promise<string> {
  const commands = await loadAllCommands();
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
    process.stdout.write(`${await usage()}\n`);
    return name ? 0 : 2;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`kubeqa ${version()}\n`);
    return 0;
  }
  const command = await loadCommand(name);
  if (!command) {
    process.stderr.write(`kubeqa: unknown command '${name}'\n\n${await usage()}\n`);
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
