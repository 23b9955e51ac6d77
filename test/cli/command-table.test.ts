import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandLoaders, loadAllCommands, loadCommand } from '../../cli/command-table.js';

const root = resolve(import.meta.dirname, '../..');

describe('the CLI command table', () => {
  it('loads, under each name, the command of that name', async () => {
    for (const name of Object.keys(commandLoaders)) {
      const command = await loadCommand(name);
      expect(command?.name).toBe(name);
      expect(typeof command?.run).toBe('function');
    }
    expect((await loadAllCommands()).map((c) => c.name)).toEqual(Object.keys(commandLoaders));
  });

  it('has no command for other names, including inherited object properties', () => {
    expect(loadCommand('nope')).toBeUndefined();
    expect(loadCommand('toString')).toBeUndefined();
    expect(loadCommand('constructor')).toBeUndefined();
  });

  it('kubeqa with an unknown command exits 2 and lists every command', () => {
    const out = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, 'cli/main.ts'), 'nope'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out.status).toBe(2);
    expect(out.stderr).toContain("unknown command 'nope'");
    for (const name of Object.keys(commandLoaders))
      expect(out.stderr).toMatch(new RegExp(`^  ${name} `, 'm'));
  });
});
