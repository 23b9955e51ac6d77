// The test API as test modules see it (domain/runner/testapi.ts), on top of the machine (QMP,
// VNC, serial consoles), the needles and the module's result recorder. Semantics follow
// openQA's testapi: names, defaults (seconds, × TIMEOUT_SCALE), what is recorded as a step.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { KubeqaError } from '../../domain/errors.js';
import type { Candidate, Frame, Needle } from '../../domain/needles/types.js';
import type { AreaDetail, NeedleCandidateDetail, StepDetail } from '../../domain/runner/results.js';
import type { JobSettings } from '../../domain/runner/settings.js';
import type {
  AssertScreenOptions,
  ClickOptions,
  PowerAction,
  ScreenMatch,
  ScriptOptions,
  StillScreenOptions,
  TestApi,
  TypeStringOptions,
  WaitSerialOptions,
} from '../../domain/runner/testapi.js';
import type { Machine } from '../qemu/machine.js';
import { BUTTONS, type ScreenDemand } from '../vnc/client.js';
import { KEYSYM_SHIFT, keysForChar, keysymsFor } from '../vnc/keys.js';
import type { Matcher, NeedleApi } from './needle-port.js';
import type { JobLog, ModuleRecorder, ResultStore } from './recorder.js';
import { psnr } from './screen-diff.js';
import type { VideoRecorder } from './video.js';

/** A test's own failure (assert_* and die): the module fails, the job goes on or stops by its flags. */
export class TestFailure extends KubeqaError {
  constructor(message: string) {
    super('KQ_ERR_TEST_FAILED', message);
    this.name = 'TestFailure';
  }
}

/** The machine went away under the test: the job is incomplete. */
export class BackendDied extends KubeqaError {
  constructor(reason: string) {
    super('KQ_ERR_QEMU', `backend died: ${reason}`);
    this.name = 'BackendDied';
  }
}

export interface ApiContext {
  machine: Machine;
  settings: JobSettings;
  scale: number;
  log: JobLog;
  store: ResultStore;
  needles: Needle[];
  needleApi: NeedleApi | undefined;
  matcher: Matcher | undefined;
  video: VideoRecorder | undefined;
  /** Set when QEMU exited on its own. */
  backendDied(): string | undefined;
  /** Set when the runner shut the machine down on purpose (power('off')). */
  poweredOff: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * How often a screen check asks for and matches frames: every 100 ms for the first 3 s of the
 * wait (a screen expected right after a key press is seen quickly), then every 250 ms (openQA's
 * update-request interval; its checks are every 500 ms), so a long wait such as a boot costs
 * QEMU and the runner little.
 */
export const CHECK_FAST_MS = 100;
export const CHECK_SLOW_MS = 250;
export const CHECK_FAST_PHASE_MS = 3000;

/** How often a screen check searches the whole screen instead of around each area (openQA's 5 s). */
export const FULL_SEARCH_EVERY_MS = 5000;

export function checkInterval(waitedMs: number): number {
  return waitedMs < CHECK_FAST_PHASE_MS ? CHECK_FAST_MS : CHECK_SLOW_MS;
}

function seconds<T extends { timeout?: number }>(
  arg: number | T | undefined,
  fallback: number,
): [number, T | undefined] {
  if (typeof arg === 'number') return [arg, undefined];
  return [arg?.timeout ?? fallback, arg];
}

/** A word for sh in single quotes. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function tagList(tags: string | string[]): string {
  return Array.isArray(tags) ? tags.join("', '") : tags;
}

function areaDetails(c: { needle: Needle; areas: Candidate['areas'] }): AreaDetail[] {
  return c.areas.map((a) => {
    const area = c.needle.areas[a.area];
    const detail: AreaDetail = {
      x: a.x,
      y: a.y,
      w: a.width,
      h: a.height,
      similarity: Math.round(a.similarity * 100),
      result: a.similarity >= a.required ? 'ok' : 'fail',
    };
    if (area?.click_point) detail.click_point = area.click_point;
    return detail;
  });
}

function candidateDetail(c: Candidate): NeedleCandidateDetail {
  return {
    name: c.needle.name,
    json: c.needle.jsonPath,
    error: Number((1 - c.similarity).toFixed(4)),
    area: areaDetails(c),
  };
}

export class RunnerApi implements TestApi {
  private recorder: ModuleRecorder | undefined;
  private shellReady = false;
  /** Needle checks run so far (logged with the screen statistics at the end of the job). */
  checks = 0;

  constructor(private readonly ctx: ApiContext) {}

  setRecorder(recorder: ModuleRecorder): void {
    this.recorder = recorder;
  }

  private get rec(): ModuleRecorder {
    if (!this.recorder) throw new Error('test API used outside a test module');
    return this.recorder;
  }

  private ms(secondsValue: number): number {
    return Math.max(0, secondsValue * this.ctx.scale * 1000);
  }

  private checkBackend(): void {
    const died = this.ctx.backendDied();
    if (died) throw new BackendDied(died);
  }

  diag(message: string): void {
    this.ctx.log.line(message);
  }

  // ---- screenshots ---------------------------------------------------------------------------

  /**
   * The current screen. When no frames were requested lately (nobody needed them), the whole
   * screen is fetched first, so a step never records or compares a stale one.
   */
  private async currentFrame(): Promise<Frame> {
    const vnc = this.ctx.machine.vnc;
    if (!vnc.live) await vnc.refresh(this.refreshMs());
    return vnc.frame();
  }

  /** Save this frame (deduplicated) and return the step fields that point at it. */
  private async saveFrame(frame: Frame): Promise<Pick<StepDetail, 'screenshot' | 'frametime'>> {
    const proposed = this.rec.nextName('png');
    let file: string;
    if (this.ctx.needleApi) {
      const encode = this.ctx.needleApi.encodePng;
      file = this.ctx.store.screenshot(frame, proposed, (f) => encode(f));
    } else {
      // Without the needle package (no PNG codec), QEMU writes the screen itself.
      await this.ctx.machine.qmp.screendump(join(this.ctx.store.testresults, proposed), 'png');
      file = proposed;
    }
    const fields: Pick<StepDetail, 'screenshot' | 'frametime'> = { screenshot: file };
    if (this.ctx.video) fields.frametime = this.ctx.video.frametime();
    return fields;
  }

  async save_screenshot(): Promise<void> {
    this.checkBackend();
    this.rec.add({ result: 'unk', ...(await this.saveFrame(await this.currentFrame())) });
  }

  /** The screenshot a failing module ends with (os-autoinst adds one when the last step is not a failure). */
  async failureScreenshot(): Promise<void> {
    if (this.ctx.backendDied() || this.ctx.poweredOff) return;
    const last = this.rec.details.at(-1);
    if (last?.result === 'fail' && last.screenshot) return;
    try {
      this.rec.add({ result: 'fail', ...(await this.saveFrame(await this.currentFrame())) });
    } catch {
      // no screen to show
    }
  }

  // ---- needles -------------------------------------------------------------------------------

  private requireNeedles(): { api: NeedleApi; matcher: Matcher } {
    if (!this.ctx.needleApi || !this.ctx.matcher) {
      throw new KubeqaError(
        'KQ_ERR_INTERNAL',
        'needle matching is not available in this build (worker-image/needles is missing)',
        'use a build that includes the needle matcher',
      );
    }
    return { api: this.ctx.needleApi, matcher: this.ctx.matcher };
  }

  private async screenCheck(
    what: 'assert_screen' | 'check_screen',
    tags: string | string[],
    timeoutSeconds: number,
    options: AssertScreenOptions | undefined,
  ): Promise<ScreenMatch | undefined> {
    const { api, matcher } = this.requireNeedles();
    const candidates = api.selectNeedles(this.ctx.needles, tags);
    const tagText = tagList(tags);
    if (candidates.length === 0) this.ctx.log.line(`${what}: no needle has the tag(s) '${tagText}'`);
    const vnc = this.ctx.machine.vnc;
    const wasLive = vnc.live;
    const demand = vnc.demand(checkInterval(0));
    try {
      // frames were not requested for a while: fetch the whole screen before the first check
      if (!wasLive) await vnc.refresh(this.refreshMs());
      return await this.checkLoop(what, tags, timeoutSeconds, { candidates, matcher, demand, options });
    } finally {
      demand.release();
    }
  }

  /** How long a whole-screen fetch may take (QEMU answers at its next display refresh). */
  private refreshMs(): number {
    return Math.max(5000, this.ms(5));
  }

  private async checkLoop(
    what: 'assert_screen' | 'check_screen',
    tags: string | string[],
    timeoutSeconds: number,
    run: {
      candidates: Needle[];
      matcher: Matcher;
      demand: ScreenDemand;
      options: AssertScreenOptions | undefined;
    },
  ): Promise<ScreenMatch | undefined> {
    const { candidates, matcher, demand, options } = run;
    const tagText = tagList(tags);
    const vnc = this.ctx.machine.vnc;
    const started = Date.now();
    const deadline = started + this.ms(timeoutSeconds);
    let lastGeneration = -1;
    let lastCheckAt = 0;
    let lastFullAt = started;
    let lastFullGeneration = -1;
    let last: { frame: Frame; candidates: Candidate[] } | undefined;
    for (;;) {
      this.checkBackend();
      const now = Date.now();
      const atDeadline = now >= deadline;
      const generation = vnc.generation;
      // the whole screen is searched every FULL_SEARCH_EVERY_MS (openQA: every 5 s) unless it is
      // the screen the last whole-screen search already saw, and always at the deadline
      const full =
        atDeadline || (now - lastFullAt >= FULL_SEARCH_EVERY_MS && generation !== lastFullGeneration);
      if (generation !== lastGeneration || full) {
        lastGeneration = generation;
        lastCheckAt = now;
        if (full) {
          lastFullAt = now;
          lastFullGeneration = generation;
        }
        const frame = vnc.frame();
        this.checks++;
        let result =
          candidates.length > 0
            ? // before the deadline only the verdict counts; the last check is reported exactly
              await matcher.match(frame, candidates, { fullSearch: full, verdictOnly: !atDeadline })
            : { ok: false as const, candidates: [] };
        if (result.ok && result.candidates.some((c) => c.areas.some((a) => a.bounded))) {
          // the other candidates are recorded with the step: their similarities must be exact
          result = await matcher.match(frame, candidates, { fullSearch: full });
        }
        if (result.ok) {
          const workaround = result.needle.properties.some((p) => p.name === 'workaround');
          const detail: StepDetail = {
            result: workaround ? 'softfail' : 'ok',
            ...(await this.saveFrame(frame)),
            needle: result.needle.name,
            json: result.needle.jsonPath,
            area: areaDetails({ needle: result.needle, areas: result.areas }),
            tags: Array.isArray(tags) ? [...tags] : tags.split(/\s+/),
            properties: result.needle.properties.map((p) => ({ ...p })),
          };
          if (workaround) detail.dent = 1;
          const others = result.candidates.filter((c) => c.needle !== result.needle);
          if (others.length > 0) detail.needles = others.map(candidateDetail);
          this.rec.add(detail);
          this.ctx.log.line(
            `${what}('${tagText}'): matched ${result.needle.name} (similarity ${result.similarity.toFixed(3)})${workaround ? ' — workaround needle: soft failure' : ''}`,
          );
          return {
            needle: result.needle.name,
            similarity: result.similarity,
            areas: result.areas.map((a) => ({
              area: a.area,
              x: a.x,
              y: a.y,
              width: a.width,
              height: a.height,
              similarity: a.similarity,
            })),
          };
        }
        last = { frame, candidates: result.candidates };
        if (atDeadline) break;
      }
      if (atDeadline) break;
      const remaining = deadline - Date.now();
      if (!options?.no_wait) {
        const gap = checkInterval(Date.now() - started);
        demand.setInterval(gap);
        await vnc.waitForUpdate(Math.max(0, Math.min(500, remaining)));
        // Do not match more often than the check interval, whatever the screen does.
        const since = Date.now() - lastCheckAt;
        if (since < gap) await sleep(Math.min(gap - since, Math.max(0, deadline - Date.now())));
      }
    }
    const ranked = [...(last?.candidates ?? [])].sort((a, b) => b.similarity - a.similarity);
    const closest = ranked[0];
    const closestText = closest
      ? `closest candidate: ${closest.needle.name} with similarity ${closest.similarity.toFixed(3)}`
      : 'no candidate needle has this tag';
    const detail: StepDetail = {
      result: what === 'assert_screen' ? 'fail' : 'unk',
      ...(last ? await this.saveFrame(last.frame) : {}),
      tags: Array.isArray(tags) ? [...tags] : tags.split(/\s+/),
    };
    if (ranked.length > 0) detail.needles = ranked.map(candidateDetail);
    this.rec.add(detail);
    const stepNumber = this.rec.details.length;
    const message = `${what}('${tagText}') at step ${stepNumber} of ${this.rec.name}: no candidate needle matched within ${Math.round(this.ms(timeoutSeconds) / 100) / 10} s; ${closestText}`;
    this.ctx.log.line(message);
    if (what === 'assert_screen') throw new TestFailure(message);
    return undefined;
  }

  assert_screen(tags: string | string[], timeout?: number | AssertScreenOptions): Promise<ScreenMatch> {
    const [t, options] = seconds(timeout, 30);
    return this.screenCheck('assert_screen', tags, t, options) as Promise<ScreenMatch>;
  }

  check_screen(
    tags: string | string[],
    timeout?: number | AssertScreenOptions,
  ): Promise<ScreenMatch | undefined> {
    const [t, options] = seconds(timeout, 0);
    return this.screenCheck('check_screen', tags, t, options);
  }

  async send_key_until_needlematch(
    tag: string | string[],
    key: string,
    counter = 20,
    timeout = 1,
  ): Promise<void> {
    for (let i = 0; i < counter; i++) {
      if (await this.check_screen(tag, timeout)) return;
      await this.send_key(key);
    }
    await this.assert_screen(tag, timeout);
  }

  async assert_and_click(tags: string | string[], options: ClickOptions = {}): Promise<void> {
    const match = await this.assert_screen(tags, options.timeout ?? 30);
    const needle = this.ctx.needles.find((n) => n.name === match.needle);
    // openQA clicks the click_point of the first area that has one, else the centre of the last match area.
    const withPoint = needle ? needle.areas.findIndex((a) => a.click_point !== undefined) : -1;
    const area = withPoint >= 0 ? match.areas.find((a) => a.area === withPoint) : match.areas.at(-1);
    const index = area?.area ?? -1;
    if (!area) throw new TestFailure(`assert_and_click: needle ${match.needle} has no area to click`);
    const point = needle?.areas[index]?.click_point;
    const x = point && point !== 'center' ? area.x + point.xpos : area.x + area.width / 2;
    const y = point && point !== 'center' ? area.y + point.ypos : area.y + area.height / 2;
    await this.mouse_set(x, y);
    if (options.dclick) await this.mouse_dclick(options.button ?? 'left');
    else await this.mouse_click(options.button ?? 'left');
    if (options.mousehide) await this.mouse_hide();
  }

  // ---- keyboard and mouse ---------------------------------------------------------------------

  async send_key(key: string, options: { wait_screen_change?: boolean } = {}): Promise<void> {
    this.checkBackend();
    const keysyms = keysymsFor(key);
    this.ctx.log.line(`send_key('${key}')`);
    const press = async () => {
      this.ctx.machine.vnc.pressKeys(keysyms);
      await this.ctx.machine.vnc.flush();
    };
    if (options.wait_screen_change) await this.wait_screen_change(press);
    else await press();
  }

  async type_string(text: string, options?: number | TypeStringOptions): Promise<void> {
    this.checkBackend();
    const opts: TypeStringOptions = typeof options === 'number' ? { max_interval: options } : (options ?? {});
    const maxInterval = Math.min(250, Math.max(1, opts.max_interval ?? 250));
    const delay = 1000 / maxInterval;
    this.ctx.log.line(
      opts.secret
        ? `type_string(<${text.length} secret characters>)`
        : `type_string(${JSON.stringify(text)})`,
    );
    const vnc = this.ctx.machine.vnc;
    const type = async () => {
      for (const char of text) {
        const keys = keysForChar(char);
        vnc.pressKeys(keys);
        await vnc.flush();
        await sleep(keys[0] === KEYSYM_SHIFT ? delay * 2 : delay);
      }
    };
    if (opts.wait_screen_change) await this.wait_screen_change(type, opts.wait_screen_change);
    else await type();
    if (opts.wait_still_screen) await this.wait_still_screen(opts.wait_still_screen);
  }

  type_password(password: string, options: TypeStringOptions = {}): Promise<void> {
    return this.type_string(password, { max_interval: 100, ...options, secret: true });
  }

  async mouse_set(x: number, y: number): Promise<void> {
    this.checkBackend();
    this.ctx.machine.vnc.pointerEvent(x, y);
    await this.ctx.machine.vnc.flush();
  }

  async mouse_click(button: 'left' | 'right' | 'middle' = 'left', holdTime = 0.15): Promise<void> {
    this.checkBackend();
    const vnc = this.ctx.machine.vnc;
    const { x, y } = vnc.pointerPosition;
    vnc.pointerEvent(x, y, BUTTONS[button]);
    await vnc.flush();
    await sleep(holdTime * 1000);
    vnc.pointerEvent(x, y, 0);
    await vnc.flush();
  }

  async mouse_dclick(button: 'left' | 'right' | 'middle' = 'left'): Promise<void> {
    await this.mouse_click(button, 0.05);
    await sleep(50);
    await this.mouse_click(button, 0.05);
  }

  async mouse_hide(borderOffset = 0): Promise<void> {
    const vnc = this.ctx.machine.vnc;
    await this.mouse_set(vnc.width - 1 - borderOffset, vnc.height - 1 - borderOffset);
  }

  // ---- screen stillness ------------------------------------------------------------------------

  async wait_still_screen(stilltime?: number | StillScreenOptions, timeout?: number): Promise<boolean> {
    const opts: StillScreenOptions = typeof stilltime === 'object' ? stilltime : { stilltime, timeout };
    const still = this.ms(opts.stilltime ?? 7);
    const deadline = Date.now() + this.ms(opts.timeout ?? timeout ?? 30);
    const level = opts.similarity_level ?? 47;
    const vnc = this.ctx.machine.vnc;
    const demand = vnc.demand(CHECK_FAST_MS);
    try {
      return await this.stillLoop(still, deadline, level, opts);
    } finally {
      demand.release();
    }
  }

  private async stillLoop(
    still: number,
    deadline: number,
    level: number,
    opts: StillScreenOptions,
  ): Promise<boolean> {
    const vnc = this.ctx.machine.vnc;
    let reference = await this.currentFrame();
    let stillSince = Date.now();
    for (;;) {
      this.checkBackend();
      const now = Date.now();
      if (now - stillSince >= still) {
        this.ctx.log.line(`wait_still_screen: still for ${Math.round((now - stillSince) / 100) / 10} s`);
        return true;
      }
      if (now >= deadline) break;
      const updated = await vnc.waitForUpdate(Math.min(deadline, stillSince + still) - now);
      if (updated) {
        const current = vnc.frame();
        if (psnr(reference, current) < level) {
          reference = current;
          stillSince = Date.now();
        }
      }
    }
    this.ctx.log.line('wait_still_screen: the screen did not become still in time');
    if (opts.no_wait === false)
      throw new TestFailure('wait_still_screen: the screen did not become still in time');
    return false;
  }

  async wait_screen_change(action: () => Promise<void> | void, timeout = 10): Promise<boolean> {
    const vnc = this.ctx.machine.vnc;
    const demand = vnc.demand(CHECK_FAST_MS);
    try {
      return await this.changeLoop(vnc, await this.currentFrame(), action, timeout);
    } finally {
      demand.release();
    }
  }

  private async changeLoop(
    vnc: Machine['vnc'],
    before: Frame,
    action: () => Promise<void> | void,
    timeout: number,
  ): Promise<boolean> {
    await action();
    const deadline = Date.now() + this.ms(timeout);
    for (;;) {
      this.checkBackend();
      const current = vnc.frame();
      if (psnr(before, current) < 50) return true;
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await vnc.waitForUpdate(remaining);
    }
    this.ctx.log.line('wait_screen_change: the screen did not change');
    return false;
  }

  // ---- serial ----------------------------------------------------------------------------------

  async wait_serial(
    pattern: string | RegExp,
    timeout?: number | WaitSerialOptions,
  ): Promise<string | undefined> {
    const [t, opts] = seconds(timeout, 90);
    const regex =
      typeof pattern === 'string'
        ? new RegExp(opts?.no_regex ? pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : pattern)
        : pattern;
    const serial = this.ctx.machine.serial0;
    const from = this.serialMark;
    const match = await this.waitOnConsole(serial, regex, this.ms(t), from);
    const expectNotFound = opts?.expect_not_found === true;
    const found = match !== undefined;
    if (match) this.serialMark = from + match.index + match[0].length;
    const ok = found !== expectNotFound;
    const seen = found ? (match as RegExpExecArray)[0] : serial.text().slice(from);
    this.rec.text(
      'wait_serial',
      `# wait_serial expected: ${String(regex)}\n# Result:\n${seen}\n`,
      ok ? 'ok' : 'fail',
    );
    this.ctx.log.line(`wait_serial(${String(regex)}): ${found ? 'found' : 'not found'}`);
    return found ? (match as RegExpExecArray)[0] : undefined;
  }

  /** Where the next wait_serial starts looking (after the previous match, as openQA). */
  private serialMark = 0;

  private async waitOnConsole(
    console: Machine['serial0'],
    regex: RegExp,
    timeoutMs: number,
    from: number,
  ): Promise<RegExpExecArray | undefined> {
    const died = new Promise<'died'>((resolve) => {
      void this.ctx.machine.process.exited.then(() => resolve('died'));
    });
    const result = await Promise.race([console.waitFor(regex, timeoutMs, from), died]);
    if (result === 'died' || (result === undefined && console.isClosed)) {
      // The console closed: QEMU is going away. Let its exit be noticed, then report it.
      await Promise.race([this.ctx.machine.process.exited, sleep(5000)]);
      this.checkBackend();
    }
    return result === 'died' ? undefined : result;
  }

  /** Make sure the shell on the second serial console answers (it may still be starting). */
  private async ensureShell(deadline: number): Promise<void> {
    if (this.shellReady) return;
    const shell = this.ctx.machine.serial1;
    const id = randomBytes(4).toString('hex');
    for (;;) {
      this.checkBackend();
      const from = shell.position;
      shell.write(`printf '%s-%s\\n' KQREADY ${id}\n`);
      const match = await this.waitOnConsole(
        shell,
        new RegExp(`KQREADY-${id}`),
        Math.max(0, Math.min(2000, deadline - Date.now())),
        from,
      );
      if (match) break;
      if (Date.now() >= deadline) {
        throw new TestFailure(
          'the shell console (second serial port) does not answer: the system under test needs a root shell on ttyS1 for script_run',
        );
      }
    }
    this.shellReady = true;
  }

  /** Run a command on the shell console; exit code and output through unique markers. */
  private async shellCommand(
    command: string,
    timeoutMs: number,
    secret: boolean,
  ): Promise<{ code: number; output: string } | undefined> {
    const deadline = Date.now() + timeoutMs;
    await this.ensureShell(deadline);
    const shell = this.ctx.machine.serial1;
    const id = randomBytes(6).toString('hex');
    const from = shell.position;
    // One input line, so the shell has echoed all of it before the command prints anything. The
    // markers' printed form (KQSTART-id) never appears in the echoed line (KQSTART id).
    const script = command.includes('\n')
      ? `printf '%s\\n' ${command.split('\n').map(shellQuote).join(' ')} > /tmp/kq-${id}.sh; . /tmp/kq-${id}.sh`
      : command;
    const separator = /&\s*$/.test(script) ? ' ' : '; ';
    shell.write(
      `printf '%s-%s\\n' KQSTART ${id}; ${script}${separator}printf '\\n%s-%s-%s\\n' KQEND ${id} "$?"\n`,
    );
    void secret;
    // Up to the end of the marker line: the status may arrive in pieces.
    const regex = new RegExp(`KQSTART-${id}\\r?\\n([\\s\\S]*?)\\r?\\nKQEND-${id}-(\\d+)\\r?\\n`);
    const match = await this.waitOnConsole(shell, regex, Math.max(0, deadline - Date.now()), from);
    if (!match) return undefined;
    // The end marker starts on a new line of its own: drop the command's last newline, as openQA does.
    const output = (match[1] ?? '').replace(/\r\n/g, '\n').replace(/\r/g, '').replace(/\n$/, '');
    return { code: Number(match[2]), output };
  }

  async script_run(command: string, timeout?: number | ScriptOptions): Promise<number | undefined> {
    const [t, opts] = seconds(timeout, 90);
    this.ctx.log.line(opts?.secret ? 'script_run(<secret>)' : `script_run(${JSON.stringify(command)})`);
    const result = await this.shellCommand(command, this.ms(t), opts?.secret ?? false);
    if (!result) {
      const message = `script_run: '${opts?.secret ? '<secret>' : command}' did not finish within ${t} s`;
      if (opts?.die_on_timeout === false) {
        this.ctx.log.line(message);
        return undefined;
      }
      throw new TestFailure(message);
    }
    return result.code;
  }

  async assert_script_run(command: string, timeout?: number | ScriptOptions): Promise<void> {
    const [t, opts] = seconds(timeout, 90);
    const shown = opts?.secret ? '<secret>' : command;
    this.ctx.log.line(`assert_script_run(${JSON.stringify(shown)})`);
    const result = await this.shellCommand(command, this.ms(t), opts?.secret ?? false);
    if (!result) throw new TestFailure(`assert_script_run: '${shown}' did not finish within ${t} s`);
    if (result.code !== 0) {
      const message = `assert_script_run: '${shown}' failed with exit code ${result.code}${opts?.fail_message ? `: ${opts.fail_message}` : ''}`;
      this.rec.text('assert_script_run', `# ${message}\n${result.output}\n`, 'fail');
      throw new TestFailure(message);
    }
  }

  async script_output(command: string, timeout?: number | ScriptOptions): Promise<string> {
    const [t, opts] = seconds(timeout, 30);
    const shown = opts?.secret ? '<secret>' : command;
    this.ctx.log.line(`script_output(${JSON.stringify(shown)})`);
    const result = await this.shellCommand(command, this.ms(t), opts?.secret ?? false);
    if (!result) throw new TestFailure(`script_output: '${shown}' did not finish within ${t} s`);
    if (result.code !== 0 && !opts?.proceed_on_failure) {
      throw new TestFailure(
        `script_output: '${shown}' failed with exit code ${result.code}: ${result.output.slice(-500)}`,
      );
    }
    return result.output;
  }

  async upload_logs(
    path: string,
    options: { failok?: boolean; log_name?: string } = {},
  ): Promise<string | undefined> {
    const name = (options.log_name ?? basename(path)).replace(/[^\w.-]/g, '_');
    try {
      const quoted = `'${path.replace(/'/g, `'\\''`)}'`;
      const encoded = await this.script_output(`base64 ${quoted}`, 90);
      const target = join(this.ctx.store.ulogs, name);
      writeFileSync(target, Buffer.from(encoded.replace(/\s+/g, ''), 'base64'));
      this.ctx.log.line(`upload_logs: ${path} → ulogs/${name}`);
      return target;
    } catch (error) {
      if (options.failok) {
        this.ctx.log.line(`upload_logs: ${path} failed (failok): ${(error as Error).message}`);
        return undefined;
      }
      throw error;
    }
  }

  // ---- results ---------------------------------------------------------------------------------

  record_soft_failure(reason: string): void {
    this.rec.text('Soft Failed', `# Soft Failure:\n${reason}\n`, 'softfail', { dent: 1 });
    this.ctx.log.line(`record_soft_failure: ${reason}`);
  }

  record_info(title: string, output = '', options: { result?: 'ok' | 'fail' | 'softfail' } = {}): void {
    this.rec.text(title, `${output}\n`, options.result ?? 'ok');
    this.ctx.log.line(`record_info: ${title}`);
  }

  // ---- power -----------------------------------------------------------------------------------

  async power(action: PowerAction): Promise<void> {
    this.checkBackend();
    const qmp = this.ctx.machine.qmp;
    this.ctx.log.line(`power('${action}')`);
    switch (action) {
      case 'on':
        await qmp.cont();
        return;
      case 'acpi':
        await qmp.powerdown();
        return;
      case 'reset':
        await qmp.reset();
        return;
      case 'off':
        // The plug: the guest stops at once; QEMU stays (-no-shutdown) until the job ends.
        this.ctx.poweredOff = true;
        await qmp.stop();
        return;
      default:
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `power('${String(action)}'): use on, off, reset or acpi`,
        );
    }
  }

  async assert_shutdown(timeout = 60): Promise<void> {
    const qmp = this.ctx.machine.qmp;
    const deadline = Date.now() + this.ms(timeout);
    if (this.ctx.poweredOff) return;
    const event = await Promise.race([
      qmp.waitForEvent('SHUTDOWN', Math.max(0, deadline - Date.now()), 0),
      this.ctx.machine.process.exited.then(() => undefined),
    ]);
    if (event) {
      const status = await qmp.queryStatus().catch(() => undefined);
      if (!status || status.status === 'shutdown' || !status.running) {
        this.ctx.poweredOff = true;
        this.ctx.log.line('assert_shutdown: the machine is shut down');
        return;
      }
    }
    this.checkBackend();
    throw new TestFailure(`assert_shutdown: the machine did not shut down within ${timeout} s`);
  }

  // ---- variables -------------------------------------------------------------------------------

  get_var(name: string, fallback?: string): string | undefined {
    return this.ctx.settings[name] ?? fallback;
  }

  get_required_var(name: string): string {
    const value = this.ctx.settings[name];
    if (value === undefined) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `the test needs the setting ${name}, which the job does not have`,
        `add ${name}=… to the job's settings`,
      );
    }
    return value;
  }

  set_var(name: string, value: string | undefined): void {
    if (value === undefined) delete this.ctx.settings[name];
    else this.ctx.settings[name] = value;
  }

  check_var(name: string, value: string): boolean {
    return this.ctx.settings[name] === value;
  }

  async sleep(secondsValue: number): Promise<void> {
    await sleep(secondsValue * 1000);
    this.checkBackend();
  }
}
