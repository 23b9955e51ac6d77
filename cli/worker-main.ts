#!/usr/bin/env node
// `kubeqa worker …` on its own: the entry the local executor starts for each job. It loads only
// what a runner needs; cli/main.ts loads every command (Kubernetes client, web server, …) and
// took ~5× longer to start here (10 s against 2 s on a busy 2-core machine).
// Takes the same arguments as `kubeqa worker …` (a leading "worker" is accepted).
import { isKubeqaError } from '../domain/errors.js';
import { workerCommand } from './commands/worker.js';

const args = process.argv.slice(2);
if (args[0] === 'worker') args.shift();
workerCommand.run(args).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isKubeqaError(error)) process.stderr.write(`kubeqa: ${error.code}: ${error.message}\n`);
    else process.stderr.write(`kubeqa: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
