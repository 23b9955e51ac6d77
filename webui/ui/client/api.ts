// Talking to the server: JSON reads, changes with the session's CSRF token, the session itself.
export interface Session {
  user: string;
  role: string;
  csrf_token: string;
}

let session: Session | undefined;

export function currentSession(): Session | undefined {
  return session;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
  }
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // plain text (YAML, logs)
  }
  if (!res.ok) {
    const b = body as { error?: string; hint?: string };
    throw new ApiError(`${b?.error ?? res.statusText}${b?.hint ? ` (${b.hint})` : ''}`, res.status, body);
  }
  return body;
}

export async function get<T>(path: string): Promise<T> {
  return (await parse(await fetch(`/api/v1/${path}`, { credentials: 'same-origin' }))) as T;
}

export async function getText(url: string): Promise<string> {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new ApiError(`${url}: ${res.status}`, res.status, undefined);
  return res.text();
}

/** POST/PUT/DELETE with a JSON body (or none). */
export async function send<T>(method: string, path: string, body?: Record<string, unknown>): Promise<T> {
  const headers: Record<string, string> = {};
  if (session) headers['x-csrf-token'] = session.csrf_token;
  if (body) headers['content-type'] = 'application/json';
  return (await parse(
    await fetch(`/api/v1/${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body ? JSON.stringify(body) : undefined,
    }),
  )) as T;
}

export async function loadSession(): Promise<Session | undefined> {
  const s = await get<Session | { user: null }>('ui/session');
  session = s.user ? (s as Session) : undefined;
  return session;
}

export async function login(username: string, password: string): Promise<Session> {
  session = await send<Session>('POST', 'session', { username, password });
  return session;
}

export async function logout(): Promise<void> {
  await send('DELETE', 'session');
  session = undefined;
}

const RANK: Record<string, number> = { viewer: 0, operator: 1, admin: 2 };
export function mayAct(role: 'operator' | 'admin'): boolean {
  return !!session && (RANK[session.role] ?? -1) >= (RANK[role] ?? 99);
}
