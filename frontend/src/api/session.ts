// session.ts: signing in with a user name and password, the sign-in providers
// (forges, OpenID Connect), and invitation links that set a password once. The
// server answers a sign-in with the session cookie; me.ts then says who we are.
import { api, type Schemas } from './client';
import { signedIn } from './me';
import { answer, type Query, type Result } from './query';

export type Provider = Schemas['Provider'];

export const providersQuery = (): Query<Provider[]> => ({
  key: ['auth', 'providers'],
  fetch: (signal) => answer(api.GET('/api/v1/auth/providers', { signal })),
});

// loginHref is where a provider's button goes: only a path on this server, so a
// provider's name can never turn into a script or another site's address.
export function loginHref(p: Provider): string | undefined {
  const u = p.loginUrl;
  return u.startsWith('/') && !u.startsWith('//') && !u.startsWith('/\\') ? u : undefined;
}

// signInWithPassword asks for a session: on 401 and 429 the result carries the
// server's sentence ("wrong user name or password", "too many …").
export async function signInWithPassword(user: string, password: string): Promise<Result<Schemas['SignedIn']>> {
  const r = await answer(api.POST('/api/v1/session', { body: { user, password } }));
  if (r.data) await signedIn();
  return r;
}

export const invitationQuery = (token: string): Query<Schemas['InvitationInfo']> => ({
  key: ['invitation', token],
  fetch: (signal) => answer(api.GET('/api/v1/invitations/{token}', { params: { path: { token } }, signal })),
});

// acceptInvitation sets the password; the answer signs the user in.
export async function acceptInvitation(token: string, password: string): Promise<Result<Schemas['SignedIn']>> {
  const r = await answer(api.POST('/api/v1/invitations/{token}', { params: { path: { token } }, body: { password } }));
  if (r.data) await signedIn();
  return r;
}

// invitationLink makes an invitation's server-relative url whole, to hand on.
export function invitationLink(url: string, origin: string = location.origin): string {
  return new URL(url, origin).href;
}
