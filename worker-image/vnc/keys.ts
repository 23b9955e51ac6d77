// openQA's key names → X11 keysyms (what RFB key events carry). Pure.
//   send_key('ret'), send_key('ctrl-alt-f2'), send_key('shift-tab'), send_key('a')
// A combination is pressed left to right and released right to left.
import { KubeqaError } from '../../domain/errors.js';

const NAMED: Record<string, number> = {
  esc: 0xff1b,
  ret: 0xff0d,
  enter: 0xff0d,
  kp_enter: 0xff8d,
  tab: 0xff09,
  backspace: 0xff08,
  bs: 0xff08,
  delete: 0xffff,
  del: 0xffff,
  insert: 0xff63,
  ins: 0xff63,
  home: 0xff50,
  end: 0xff57,
  pgup: 0xff55,
  pageup: 0xff55,
  pgdn: 0xff56,
  pagedown: 0xff56,
  up: 0xff52,
  down: 0xff54,
  left: 0xff51,
  right: 0xff53,
  spc: 0x20,
  space: 0x20,
  shift: 0xffe1,
  ctrl: 0xffe3,
  alt: 0xffe9,
  altgr: 0xfe03,
  super: 0xffeb,
  win: 0xffeb,
  meta: 0xffe7,
  caps: 0xffe5,
  capslock: 0xffe5,
  numlock: 0xff7f,
  scrolllock: 0xff14,
  print: 0xff61,
  sysrq: 0xff15,
  pause: 0xff13,
  menu: 0xff67,
  minus: 0x2d,
  plus: 0x2b,
  equal: 0x3d,
  slash: 0x2f,
  backslash: 0x5c,
  comma: 0x2c,
  dot: 0x2e,
  semicolon: 0x3b,
  apostrophe: 0x27,
  grave: 0x60,
  bracketleft: 0x5b,
  bracketright: 0x5d,
};
for (let n = 1; n <= 12; n++) NAMED[`f${n}`] = 0xffbe + n - 1;

/** Keysyms of a key spec like 'ctrl-alt-f2' (press order). */
export function keysymsFor(spec: string): number[] {
  const trimmed = spec.trim();
  if (!trimmed) throw badKey(spec);
  // A lone '-' is the minus key; otherwise '-' separates the keys of a combination.
  const parts = trimmed === '-' ? ['-'] : trimmed.split('-');
  return parts.map((part) => {
    if (part === '') throw badKey(spec);
    const named = NAMED[part.toLowerCase()];
    if (named !== undefined) return named;
    if ([...part].length === 1) return charKeysym(part);
    throw badKey(spec);
  });
}

function badKey(spec: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_ARGUMENT',
    `unknown key '${spec}'`,
    `use openQA key names such as ret, esc, tab, spc, backspace, f1…f12, up, ctrl-alt-f2, shift-tab, or one character`,
  );
}

/** The keysym of one character (Latin-1 directly, other Unicode as 0x01000000 + code point). */
export function charKeysym(char: string): number {
  const code = char.codePointAt(0) ?? 0;
  if (char === '\n' || char === '\r') return 0xff0d;
  if (char === '\t') return 0xff09;
  if (char === '\b') return 0xff08;
  if (char === '\x1b') return 0xff1b;
  if ((code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff)) return code;
  return 0x01000000 + code;
}

/** Characters that need shift on a US keyboard (QEMU maps keysyms to scancodes and does not add it). */
const SHIFTED = '~!@#$%^&*()_+{}|:"<>?';

/** The keys to press for one character of type_string: shift first when the US layout needs it. */
export function keysForChar(char: string): number[] {
  const sym = charKeysym(char);
  const needsShift = (char >= 'A' && char <= 'Z') || SHIFTED.includes(char);
  return needsShift ? [NAMED.shift as number, sym] : [sym];
}

export const KEYSYM_SHIFT = 0xffe1;
