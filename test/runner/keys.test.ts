// openQA key names → keysyms, and the shift a US keyboard needs for typed characters.
import { describe, expect, it } from 'vitest';
import { charKeysym, KEYSYM_SHIFT, keysForChar, keysymsFor } from '../../worker-image/vnc/keys.js';

describe('keysymsFor', () => {
  it.each([
    ['ret', [0xff0d]],
    ['esc', [0xff1b]],
    ['tab', [0xff09]],
    ['shift-tab', [0xffe1, 0xff09]],
    ['ctrl-alt-f2', [0xffe3, 0xffe9, 0xffbf]],
    ['ctrl-alt-delete', [0xffe3, 0xffe9, 0xffff]],
    ['alt-f4', [0xffe9, 0xffc1]],
    ['spc', [0x20]],
    ['a', [0x61]],
    ['-', [0x2d]],
    ['ctrl-c', [0xffe3, 0x63]],
    ['f12', [0xffc9]],
  ])('%s', (name, keysyms) => {
    expect(keysymsFor(name)).toEqual(keysyms);
  });

  it('rejects unknown names with a hint', () => {
    expect(() => keysymsFor('ctrl-frobnicate')).toThrow(/unknown key 'ctrl-frobnicate'.*openQA key names/);
    expect(() => keysymsFor('')).toThrow(/unknown key/);
  });
});

describe('typed characters', () => {
  it('maps control characters and presses shift where the US layout needs it', () => {
    expect(charKeysym('\n')).toBe(0xff0d);
    expect(keysForChar('a')).toEqual([0x61]);
    expect(keysForChar('A')).toEqual([KEYSYM_SHIFT, 0x41]);
    expect(keysForChar('$')).toEqual([KEYSYM_SHIFT, 0x24]);
    expect(keysForChar('(')).toEqual([KEYSYM_SHIFT, 0x28]);
    expect(keysForChar('/')).toEqual([0x2f]);
    expect(keysForChar('é')).toEqual([0xe9]);
  });
});
