// client.ts is the one typed client of /api/v1, generated types from openapi.yaml
// (schema.d.ts) plus the token a user signed in with.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type Job = Schemas['Job'];
export type JobStatus = Schemas['JobStatus'];
export type Project = Schemas['Project'];
export type Entity = Schemas['Entity'];
export type EntitySummary = Schemas['EntitySummary'];
export type Collection = Schemas['Collection'];
export type Runner = Schemas['Runner'];
export type ApiError = Schemas['Error'];
export type User = Schemas['User'];
export type Member = Schemas['Member'];
export type Role = Member['role'];

const TOKEN_KEY = 'aura.token';

// token returns the token the user signed in with, or null.
export function token(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(t: string | null): void {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event('aura-token'));
}

// authHeaders are the headers a raw fetch needs to read what the user may see.
export function authHeaders(): Record<string, string> {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

const auth: Middleware = {
  onRequest({ request }) {
    const t = token();
    if (t) request.headers.set('Authorization', `Bearer ${t}`);
    return request;
  },
};

// Same origin: the session cookie goes with every request (a pasted token besides).
export const api = createClient<paths>({ baseUrl: '', credentials: 'same-origin' });
api.use(auth);

// errorText turns an API error answer into one sentence for the page.
export function errorText(err: unknown, status?: number): string {
  if (err && typeof err === 'object' && 'message' in err) {
    const e = err as ApiError;
    return e.field ? `${e.message} (${e.field})` : e.message;
  }
  return status ? `request failed (${status})` : 'request failed';
}
