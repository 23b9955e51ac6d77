// `kubeqa api`: a signed request to a kubeqa (or openQA) API, as `openqa-cli api` does it.
//   kubeqa api [--host URL] [--apikey K --apisecret S] [-X METHOD] [--json] [-d DATA] [--pretty] PATH [KEY=VALUE…]
// Keys come from the options, else from client.conf: ~/.config/kubeqa/client.conf, then openQA's
// ($OPENQA_CONFIG/client.conf, ~/.config/openqa/client.conf, /etc/openqa/client.conf), then the one
// `kubeqa up` writes into its data directory ($KUBEQA_HOME/client.conf), in the INI
// format `[host]\nkey = …\nsecret = …` where the section is the host (with or without scheme/port).

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signRequest } from '../../domain/auth/hmac.js';
import { KubeqaError } from '../../domain/errors.js';
import { dataHome } from '../../runtime/paths.js';
import type { Command } from '../command.js';

const HELP = `usage: kubeqa api [options] PATH [KEY=VALUE ...]

Sends a request to the API (paths are relative to /api/v1) signed with an API key and prints
the response. KEY=VALUE parameters go to the query string for GET and DELETE, to a form body
otherwise; a KEY given several times keeps every value.
  --host URL          server (default $KUBEQA_HOST or http://127.0.0.1:9526)
  --apikey KEY        API key (default: from client.conf)
  --apisecret SECRET  API secret (default: from client.conf)
  -X, --method M      HTTP method (default GET)
  -d, --data DATA     request body as is (with --json: sent as application/json)
  -j, --json          send the parameters as a JSON object instead of a form
  -p, --pretty        pretty-print JSON responses
  --apibase PATH      API base (default /api/v1)
Examples:
  kubeqa api -X POST isos DISTRI=debian VERSION=12 FLAVOR=netinst ARCH=x86_64 BUILD=1
  kubeqa api jobs state=running
`;

export type ClientConf = Map<string, { key?: string; secret?: string }>;

/** INI as openQA's client.conf writes it. */
export function parseClientConf(text: string): ClientConf {
  const out: ClientConf = new Map();
  let section: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1].trim();
      if (!out.has(section)) out.set(section, {});
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) continue;
    const name = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    const entry = out.get(section) ?? {};
    if (name === 'key') entry.key = value;
    if (name === 'secret') entry.secret = value;
    out.set(section, entry);
  }
  return out;
}

export function configFiles(env: NodeJS.ProcessEnv = process.env, home = homedir()): string[] {
  const files = [join(env.XDG_CONFIG_HOME || join(home, '.config'), 'kubeqa', 'client.conf')];
  if (env.OPENQA_CONFIG) files.push(join(env.OPENQA_CONFIG, 'client.conf'));
  files.push(join(home, '.config', 'openqa', 'client.conf'), '/etc/openqa/client.conf');
  // the embedded default's own (kubeqa up writes it into its data directory)
  files.push(join(dataHome(env), 'client.conf'));
  return files;
}

/** Key and secret for `host` from the first config file that has a section for it. */
export function credentialsFor(
  hostUrl: URL,
  files: readonly string[],
): { key: string; secret: string } | undefined {
  const names = [hostUrl.host, hostUrl.hostname, hostUrl.origin, `${hostUrl.origin}/`];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const conf = parseClientConf(readFileSync(file, 'utf8'));
    for (const name of names) {
      const entry = conf.get(name);
      if (entry?.key && entry.secret) return { key: entry.key, secret: entry.secret };
    }
  }
  return undefined;
}

export function parseParams(args: readonly string[]): [string, string][] {
  return args.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `parameter '${arg}' is not KEY=VALUE`);
    return [arg.slice(0, eq), arg.slice(eq + 1)];
  });
}

export const apiCommand: Command = {
  name: 'api',
  summary: 'send a signed request to the API (like openqa-cli api)',
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        apikey: { type: 'string' },
        apisecret: { type: 'string' },
        method: { type: 'string', short: 'X', default: 'GET' },
        data: { type: 'string', short: 'd' },
        json: { type: 'boolean', short: 'j' },
        pretty: { type: 'boolean', short: 'p' },
        apibase: { type: 'string', default: '/api/v1' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const [path, ...rest] = positionals;
    if (!path) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing PATH', 'e.g. kubeqa api jobs');
    let host: URL;
    try {
      const raw = values.host ?? process.env.KUBEQA_HOST ?? 'http://127.0.0.1:9526';
      host = new URL(/^https?:\/\//.test(raw) ? raw : `http://${raw}`);
    } catch {
      throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `--host '${values.host}' is not a URL`);
    }
    const method = values.method.toUpperCase();
    const params = parseParams(rest);
    const search = new URLSearchParams();
    let body: string | undefined;
    let contentType: string | undefined;
    const inQuery = method === 'GET' || method === 'DELETE' || method === 'HEAD';
    if (values.data !== undefined) {
      body = values.data;
      contentType = values.json ? 'application/json' : 'application/x-www-form-urlencoded';
      for (const [k, v] of params) search.append(k, v);
    } else if (inQuery) {
      for (const [k, v] of params) search.append(k, v);
    } else if (params.length > 0) {
      if (values.json) {
        body = JSON.stringify(Object.fromEntries(params));
        contentType = 'application/json';
      } else {
        const form = new URLSearchParams();
        for (const [k, v] of params) form.append(k, v);
        body = form.toString();
        contentType = 'application/x-www-form-urlencoded';
      }
    }
    const base = values.apibase.replace(/\/$/, '');
    const fullPath = path.startsWith('/') ? path : `${base}/${path}`;
    const pathQuery = `${fullPath}${search.size > 0 ? `?${search.toString()}` : ''}`;
    const creds =
      values.apikey && values.apisecret
        ? { key: values.apikey, secret: values.apisecret }
        : credentialsFor(host, configFiles());
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds) Object.assign(headers, signRequest(creds.key, creds.secret, pathQuery));
    if (contentType) headers['content-type'] = contentType;
    let res: Response;
    try {
      res = await fetch(new URL(pathQuery, host), { method, headers, body });
    } catch (error) {
      throw new KubeqaError(
        'KQ_ERR_UNREACHABLE',
        `cannot reach ${host.origin}: ${(error as Error).message}`,
        'check --host and that the server runs',
      );
    }
    const text = await res.text();
    let out = text;
    if (values.pretty && (res.headers.get('content-type') ?? '').includes('json')) {
      try {
        out = JSON.stringify(JSON.parse(text), null, 2);
      } catch {}
    }
    if (res.status >= 400) {
      process.stderr.write(`${res.status} ${res.statusText}\n`);
      process.stdout.write(`${out}\n`);
      return 1;
    }
    process.stdout.write(`${out}\n`);
    return 0;
  },
};
