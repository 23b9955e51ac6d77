// `kubeqa operator`: the Kubernetes controller manager (configured by environment variables; see
// operator/config.ts and docs/configuration.md).
import { parseArgs } from 'node:util';
import { OPERATOR_ENV, operatorConfigFromEnv } from '../../operator/config.js';
import { runOperator } from '../../operator/manager.js';
import { createLogger } from '../../runtime/logger.js';
import type { Command } from '../command.js';
import { untilStopSignal } from '../process-helpers.js';

const HELP = `usage: kubeqa operator [--kubeconfig FILE]

Runs the kubeqa operator. Without --kubeconfig it uses $KUBECONFIG, ~/.kube/config or the
in-cluster service account. Configuration comes from the environment:
${Object.entries(OPERATOR_ENV)
  .map(([name, meaning]) => `  ${name.padEnd(34)} ${meaning}`)
  .join('\n')}
`;

export const operatorCommand: Command = {
  name: 'operator',
  summary: 'run the Kubernetes operator (controllers, leader election, metrics)',
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { kubeconfig: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const config = operatorConfigFromEnv();
    const log = createLogger('kubeqa-operator');
    const operator = await runOperator(config, { kubeconfig: values.kubeconfig, log });
    log.info(
      { healthPort: operator.health.port, identity: config.leaderElection.identity },
      'operator running',
    );
    const reason = await Promise.race([
      operator.lostLeadership.then(() => 'lost leadership'),
      untilStopSignal(),
    ]);
    log.info({ reason }, 'stopping');
    await operator.stop();
    return reason === 'lost leadership' ? 1 : 0;
  },
};
