// The test API that test modules call, with openQA's names and defaults. Timeouts are in
// seconds, as in openQA, and are multiplied by TIMEOUT_SCALE. A test module is a TypeScript or
// JavaScript file under tests/<category>/<module>.ts whose default export is a TestModule:
//
//   import type { TestModule } from 'kubeqa/testapi';   // or a relative path to this file
//   export default {
//     flags: { fatal: true },
//     async run(t) { await t.assert_screen('boot-menu'); await t.send_key('ret'); },
//   } satisfies TestModule;
import type { ModuleFlags } from './results.js';

export type { ModuleFlags } from './results.js';

export interface ScreenMatch {
  needle: string;
  similarity: number;
  /** Where each match area was found on the screen (`area`: its index in the needle's areas). */
  areas: { area: number; x: number; y: number; width: number; height: number; similarity: number }[];
}

export interface AssertScreenOptions {
  /** Seconds (assert_screen: 30, check_screen: 0). */
  timeout?: number;
  /** Check as fast as possible instead of waiting for screen updates between checks. */
  no_wait?: boolean;
}

export interface TypeStringOptions {
  /** Upper bound for the delay between keys (openQA: 1..250, lower is slower; default 250). */
  max_interval?: number;
  /** Never log the text (passwords). */
  secret?: boolean;
  /** Wait until the screen changed after typing, up to this many seconds. */
  wait_screen_change?: number;
  /** Wait until the screen is still for this many seconds after typing. */
  wait_still_screen?: number;
}

export interface WaitSerialOptions {
  timeout?: number;
  /** Treat the pattern as a plain string. */
  no_regex?: boolean;
  /** Expect the pattern NOT to appear within the timeout. */
  expect_not_found?: boolean;
}

export interface ScriptOptions {
  timeout?: number;
  /** assert_script_run: message added to the failure. */
  fail_message?: string;
  /** script_output: return the output even when the command exits non-zero. */
  proceed_on_failure?: boolean;
  /** script_run: throw when the command does not finish in time (default true, as openQA). */
  die_on_timeout?: boolean;
  /** Do not log the command (it contains a secret). */
  secret?: boolean;
}

export interface StillScreenOptions {
  stilltime?: number;
  timeout?: number;
  /** PSNR in dB above which two screens count as the same (default 47, as openQA). */
  similarity_level?: number;
  /** Do not fail, only return false, when the screen did not become still (default true). */
  no_wait?: boolean;
}

export interface ClickOptions {
  timeout?: number;
  button?: 'left' | 'right' | 'middle';
  dclick?: boolean;
  /** Move the pointer out of the way afterwards. */
  mousehide?: boolean;
}

export type PowerAction = 'on' | 'off' | 'reset' | 'acpi';

export interface TestApi {
  assert_screen(tags: string | string[], timeout?: number | AssertScreenOptions): Promise<ScreenMatch>;
  check_screen(
    tags: string | string[],
    timeout?: number | AssertScreenOptions,
  ): Promise<ScreenMatch | undefined>;
  send_key(key: string, options?: { wait_screen_change?: boolean }): Promise<void>;
  send_key_until_needlematch(
    tag: string | string[],
    key: string,
    counter?: number,
    timeout?: number,
  ): Promise<void>;
  type_string(text: string, options?: number | TypeStringOptions): Promise<void>;
  type_password(password: string, options?: TypeStringOptions): Promise<void>;
  wait_serial(pattern: string | RegExp, timeout?: number | WaitSerialOptions): Promise<string | undefined>;
  script_run(command: string, timeout?: number | ScriptOptions): Promise<number | undefined>;
  assert_script_run(command: string, timeout?: number | ScriptOptions): Promise<void>;
  script_output(command: string, timeout?: number | ScriptOptions): Promise<string>;
  wait_still_screen(stilltime?: number | StillScreenOptions, timeout?: number): Promise<boolean>;
  wait_screen_change(action: () => Promise<void> | void, timeout?: number): Promise<boolean>;
  assert_and_click(tags: string | string[], options?: ClickOptions): Promise<void>;
  mouse_set(x: number, y: number): Promise<void>;
  mouse_click(button?: 'left' | 'right' | 'middle', hold_time?: number): Promise<void>;
  mouse_dclick(button?: 'left' | 'right' | 'middle'): Promise<void>;
  mouse_hide(border_offset?: number): Promise<void>;
  save_screenshot(): Promise<void>;
  record_soft_failure(reason: string): void;
  record_info(title: string, output?: string, options?: { result?: 'ok' | 'fail' | 'softfail' }): void;
  upload_logs(path: string, options?: { failok?: boolean; log_name?: string }): Promise<string | undefined>;
  power(action: PowerAction): Promise<void>;
  assert_shutdown(timeout?: number): Promise<void>;
  get_var(name: string, fallback?: string): string | undefined;
  get_required_var(name: string): string;
  set_var(name: string, value: string | undefined): void;
  check_var(name: string, value: string): boolean;
  sleep(seconds: number): Promise<void>;
  diag(message: string): void;
}

export interface TestModule {
  flags?: ModuleFlags;
  run(t: TestApi): Promise<void> | void;
  post_fail_hook?(t: TestApi): Promise<void> | void;
}

/** What main.ts's default export receives: openQA's loadtest and the job's variables. */
export interface Scheduler {
  loadtest(name: string): void;
  get_var(name: string, fallback?: string): string | undefined;
  check_var(name: string, value: string): boolean;
}

export type ScheduleFunction = (s: Scheduler) => void | Promise<void>;
