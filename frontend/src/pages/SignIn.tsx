// SignInPage: a user name and password, a button per configured provider (forge
// or OpenID Connect), and, folded, the admin or project token as before.
import { useState } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { reconnect } from '../api/events';
import { kindText, signIn, signOut, useMe } from '../api/me';
import { useQuery } from '../api/query';
import { loginHref, providersQuery, signInWithPassword } from '../api/session';
import { ErrorText, Page } from '../components/common';
import '../components/users.css';

function PasswordForm({ done }: { done: () => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="form"
      aria-label="Sign in with a user name"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        void signInWithPassword(user.trim(), password).then((r) => {
          setBusy(false);
          if (!r.data) {
            // The server's own sentence: the same for an unknown user and a wrong
            // password, or how long to wait after too many tries.
            setError(r.error);
            setPassword('');
            return;
          }
          done();
        });
      }}
    >
      <label>
        User name
        <input name="user" autoComplete="username" autoCapitalize="none" spellCheck={false} required value={user} onChange={(e) => setUser(e.target.value)} />
      </label>
      <label>
        Password
        <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <ErrorText error={error} />
      <button type="submit" disabled={busy}>
        Sign in
      </button>
    </form>
  );
}

function Providers() {
  const providers = useQuery(providersQuery()).data ?? [];
  const shown = providers.flatMap((p) => {
    const href = loginHref(p);
    return href ? [{ ...p, href }] : [];
  });
  if (shown.length === 0) return null;
  return (
    <ul className="providers" aria-label="Sign in with a provider">
      {shown.map((p) => (
        <li key={p.name}>
          <a className="button" href={p.href}>
            Sign in with {p.label || p.name}
          </a>
        </li>
      ))}
    </ul>
  );
}

function TokenForm({ done }: { done: () => void }) {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="form"
      aria-label="Sign in with a token"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        setError(undefined);
        // The server says whose token it is; a token it refuses is not kept.
        void signIn(value.trim()).then((refused) => {
          setBusy(false);
          if (refused) {
            setError(`This token was not accepted: ${refused}.`);
            return;
          }
          reconnect();
          done();
        });
      }}
    >
      <label>
        Admin or project token
        <input type="password" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} name="token" />
      </label>
      <p className="muted">The token stays in this browser (local storage) and goes only to this server.</p>
      <ErrorText error={error} />
      <button type="submit" disabled={busy}>
        Sign in
      </button>
    </form>
  );
}

export function SignInPage() {
  const navigate = useNavigate();
  const [search] = useSearchParams();
  const me = useMe();
  // A provider that refused the sign-in sends us back with its reason, shown as text.
  const refused = search.get('error');
  const home = () => void navigate('/');
  return (
    <Page title="Sign in">
      {me && me.kind !== 'anonymous' ? (
        <p>
          You are signed in as {kindText(me)}.{' '}
          <button
            type="button"
            onClick={() => {
              void signOut().then(home);
            }}
          >
            Sign out
          </button>
        </p>
      ) : null}
      {refused ? (
        <p className="error" role="alert">
          Sign-in was refused: {refused}
        </p>
      ) : null}
      <PasswordForm done={home} />
      <Providers />
      <details className="token-signin">
        <summary>Sign in with a token</summary>
        <TokenForm done={home} />
      </details>
    </Page>
  );
}
