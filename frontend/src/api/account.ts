// account.ts: the signed-in user's own sessions and personal tokens.
import { api, type Schemas } from './client';
import { answer, refetch, type Query } from './query';

export type Session = Schemas['Session'];
export type PersonalToken = Schemas['PersonalToken'];

export const sessionsQuery = (): Query<Session[]> => ({
  key: ['me', 'sessions'],
  fetch: (signal) => answer(api.GET('/api/v1/me/sessions', { signal })),
});

export async function revokeSession(id: number) {
  const r = await answer(api.DELETE('/api/v1/me/sessions/{id}', { params: { path: { id } } }));
  refetch(['me', 'sessions']);
  return r;
}

export const tokensQuery = (): Query<PersonalToken[]> => ({
  key: ['me', 'tokens'],
  fetch: (signal) => answer(api.GET('/api/v1/me/tokens', { signal })),
});

// createToken makes a personal token; its secret is in this answer only.
// expires is a date (yyyy-mm-dd) the token works until, the end of that day
// where the browser is, or empty for never.
export async function createToken(name: string, expires: string) {
  const body: Schemas['PersonalTokenCreate'] = { name };
  if (expires) body.expiresAt = endOfDay(expires).toISOString();
  const r = await answer(api.POST('/api/v1/me/tokens', { body }));
  refetch(['me', 'tokens']);
  return r;
}

export async function revokeToken(id: number) {
  const r = await answer(api.DELETE('/api/v1/me/tokens/{id}', { params: { path: { id } } }));
  refetch(['me', 'tokens']);
  return r;
}

// endOfDay is the last millisecond of the local day a date input names.
export function endOfDay(date: string): Date {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y!, m! - 1, d!, 23, 59, 59, 999);
}

// browserName says which browser a user agent string names, for a list of
// sessions ("Firefox on Linux"); the string itself when it names none we know.
export function browserName(ua: string): string {
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Windows/.test(ua)
        ? 'Windows'
        : /Mac OS X|Macintosh/.test(ua)
          ? 'macOS'
          : /Linux|X11/.test(ua)
            ? 'Linux'
            : '';
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrom(e|ium)\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : /^curl\//.test(ua)
            ? 'curl'
            : '';
  if (!browser) return ua || 'unknown';
  return os ? `${browser} on ${os}` : browser;
}
