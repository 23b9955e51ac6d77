// kubeqa run's settings from KEY=VALUE arguments and a JSON file.
import { describe, expect, it } from 'vitest';
import { absolutePaths, parseSettingsArgs } from '../../cli/commands/run.js';

describe('parseSettingsArgs', () => {
  it('merges a JSON file and KEY=VALUE arguments, later ones winning', () => {
    const files: Record<string, string> = { 'job.json': '{"CASEDIR":"a","QEMUCPUS":2,"ISO":"x.iso"}' };
    const settings = parseSettingsArgs(
      ['job.json', 'QEMUCPUS=4', 'APPEND=console=ttyS0 quiet'],
      (p) => files[p] as string,
    );
    expect(settings).toEqual({ CASEDIR: 'a', QEMUCPUS: '4', ISO: 'x.iso', APPEND: 'console=ttyS0 quiet' });
  });

  it.each([
    [['qemucpus=2'], /'qemucpus' is not a setting name/],
    [['bogus'], /unexpected argument 'bogus'/],
    [['bad.json'], /cannot read settings from bad.json/],
    [['list.json'], /list.json is not a JSON object of settings/],
    [['nested.json'], /setting A must be a string or number/],
  ])('rejects %o', (args, message) => {
    const files: Record<string, string> = {
      'bad.json': '{',
      'list.json': '[1]',
      'nested.json': '{"A":{"b":1}}',
    };
    expect(() => parseSettingsArgs(args, (p) => files[p] as string)).toThrow(message);
  });
});

describe('absolutePaths', () => {
  it('resolves file settings and local distributions, leaves git URLs alone', () => {
    expect(
      absolutePaths(
        {
          ISO: 'a.iso',
          HDD_1: '/abs.qcow2',
          CASEDIR: 'examples/x',
          NEEDLES_DIR: 'https://example.org/n.git#main',
          TEST: 't',
        },
        '/work',
      ),
    ).toEqual({
      ISO: '/work/a.iso',
      HDD_1: '/abs.qcow2',
      CASEDIR: '/work/examples/x',
      NEEDLES_DIR: 'https://example.org/n.git#main',
      TEST: 't',
    });
  });
});
