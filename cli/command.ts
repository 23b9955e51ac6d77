// The shape of a kubeqa sub-command.
export interface Command {
  name: string;
  summary: string;
  /** Runs with the arguments after the command name; resolves with the exit code. */
  run(args: string[]): Promise<number>;
}
