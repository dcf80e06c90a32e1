// AccountPage: the signed-in user's sessions (revocable) and personal tokens
// (created with a name and an optional expiry, shown once, revocable).
import { useId, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import { browserName, createToken, revokeSession, revokeToken, sessionsQuery, tokensQuery } from '../api/account';
import { signOut, useMe, userOf } from '../api/me';
import type { User } from '../api/client';
import { useQuery } from '../api/query';
import { loginHref, providersQuery } from '../api/session';
import { ConfirmButton } from '../components/Confirm';
import { Copy, ErrorText, Loading, Page, RelTime } from '../components/common';
import '../components/forge.css';
import '../components/users.css';

function Sessions() {
  const r = useQuery(sessionsQuery());
  const [error, setError] = useState<string>();
  const navigate = useNavigate();
  const revoke = async (id: number, current: boolean) => {
    setError(undefined);
    if (current) {
      await signOut();
      void navigate('/signin');
      return;
    }
    const res = await revokeSession(id);
    if (res.error !== undefined) setError(res.error);
  };
  return (
    <section aria-labelledby="sessions-h">
      <h2 id="sessions-h">Sessions</h2>
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.length === 0 ? <p className="muted">No sessions: this browser uses a token.</p> : null}
      {r.data && r.data.length > 0 ? (
        <table className="list" data-testid="sessions">
          <thead>
            <tr>
              <th>Browser</th>
              <th>Address</th>
              <th className="hide-narrow">Signed in</th>
              <th>Last seen</th>
              <th>
                <span className="skip">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {r.data.map((s) => (
              <tr key={s.id}>
                <td title={s.userAgent}>
                  {browserName(s.userAgent)}
                  {s.current ? <span className="pill">this session</span> : null}
                </td>
                <td className="mono">{s.address}</td>
                <td className="hide-narrow">
                  <RelTime at={s.createdAt} />
                </td>
                <td>
                  <RelTime at={s.lastSeenAt} />
                </td>
                <td>
                  <ConfirmButton
                    label={s.current ? 'Sign out' : 'Revoke session'}
                    question={s.current ? 'Sign out of this browser?' : `Sign out the session from ${s.address}?`}
                    yes={s.current ? 'Sign out' : 'Revoke session'}
                    onConfirm={() => revoke(s.id, s.current)}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorText error={error} />
    </section>
  );
}

function Tokens() {
  const r = useQuery(tokensQuery());
  const [name, setName] = useState('');
  const [expires, setExpires] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [rowError, setRowError] = useState<string>();
  const [made, setMade] = useState<{ name: string; token: string }>();
  const errId = useId();
  const create = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setMade(undefined);
    const res = await createToken(name.trim(), expires);
    setBusy(false);
    if (!res.data) {
      setError(res.error);
      return;
    }
    setMade({ name: res.data.name, token: res.data.token ?? '' });
    setName('');
    setExpires('');
  };
  const revoke = async (id: number) => {
    setRowError(undefined);
    const res = await revokeToken(id);
    if (res.error !== undefined) setRowError(res.error);
  };
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  return (
    <section aria-labelledby="tokens-h">
      <h2 id="tokens-h">Personal tokens</h2>
      <p className="muted">A personal token acts as you, with your roles, from scripts and other clients: send it as <code>Authorization: Bearer</code> and the token.</p>
      {made ? (
        <div className="forge-once" role="status">
          <h3>Token {made.name} created</h3>
          <p>It is shown this once: copy it now.</p>
          <div className="copy-line">
            <code data-testid="token">{made.token}</code> <Copy text={made.token} />
          </div>
        </div>
      ) : null}
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.length === 0 ? <p className="muted">No personal tokens yet.</p> : null}
      {r.data && r.data.length > 0 ? (
        <table className="list" data-testid="tokens">
          <thead>
            <tr>
              <th>Name</th>
              <th className="hide-narrow">Created</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>
                <span className="skip">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {r.data.map((t) => (
              <tr key={t.id}>
                <td className="mono">{t.name}</td>
                <td className="hide-narrow">
                  <RelTime at={t.createdAt} />
                </td>
                <td>{t.expiresAt ? <RelTime at={t.expiresAt} /> : <span className="muted">never</span>}</td>
                <td>{t.lastUsedAt ? <RelTime at={t.lastUsedAt} /> : <span className="muted">never</span>}</td>
                <td>
                  <ConfirmButton label={`Revoke ${t.name}`} question={`Revoke token ${t.name}?`} yes="Revoke token" onConfirm={() => revoke(t.id)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorText error={rowError} />
      <h3>New token</h3>
      <form className="inline-form" onSubmit={(e) => void create(e)}>
        <label>
          Name
          <input name="tokenName" required autoComplete="off" spellCheck={false} value={name} onChange={(e) => setName(e.target.value)} aria-describedby={error ? errId : undefined} />
        </label>
        <label>
          Expires (optional)
          <input name="tokenExpires" type="date" min={tomorrow} value={expires} onChange={(e) => setExpires(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Create token
        </button>
      </form>
      <div id={errId}>
        <ErrorText error={error} />
      </div>
    </section>
  );
}

// Identities: the forge and OpenID Connect logins linked to the user, and a link
// for each configured provider not linked yet (the server links the login when a
// signed-in user comes back from /auth/{provider}/login?link=1).
function Identities({ user }: { user: User }) {
  const providers = useQuery(providersQuery()).data ?? [];
  const linked = new Set(user.identities.map((i) => i.provider));
  const open = providers.flatMap((p) => {
    const href = loginHref(p);
    return href && !linked.has(p.name) ? [{ ...p, href: `${href}${href.includes('?') ? '&' : '?'}link=1` }] : [];
  });
  if (user.identities.length === 0 && open.length === 0) return null;
  return (
    <section aria-labelledby="identities-h">
      <h2 id="identities-h">Linked sign-ins</h2>
      {user.identities.length === 0 ? <p className="muted">None yet.</p> : null}
      <ul>
        {user.identities.map((i) => (
          <li key={`${i.provider}/${i.login}`}>
            {providers.find((p) => p.name === i.provider)?.label ?? i.provider}: <span className="mono">{i.login}</span>
          </li>
        ))}
      </ul>
      {open.length > 0 ? (
        <div className="row-actions">
          {open.map((p) => (
            <a key={p.name} className="button" href={p.href}>
              Link {p.label || p.name}
            </a>
          ))}
        </div>
      ) : null}
    </section>
  );
}

export default function AccountPage() {
  const me = useMe();
  const user = userOf(me);
  if (!me) return <Loading />;
  if (!user) {
    return (
      <Page title="Account">
        <p>
          Sessions and personal tokens belong to users. <Link to="/signin">Sign in</Link> with your user name.
        </p>
      </Page>
    );
  }
  return (
    <Page title="Account">
      <p>
        Signed in as <strong>{user.displayName || user.name}</strong> <span className="muted mono">{user.name}</span>
        {user.email ? <span className="muted"> · {user.email}</span> : null}
      </p>
      <Sessions />
      <Tokens />
      <Identities user={user} />
    </Page>
  );
}
