import { useState } from 'react';
import { useNavigate } from 'react-router';
import { reconnect } from '../api/events';
import { kindText, signIn, signOut, useMe } from '../api/me';
import { ErrorText, Page } from '../components/common';

export function SignInPage() {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const me = useMe();
  return (
    <Page title="Sign in">
      {me && me.kind !== 'anonymous' ? (
        <p>
          You are signed in as {kindText(me)}.{' '}
          <button
            type="button"
            onClick={() => {
              signOut();
              reconnect();
              void navigate('/');
            }}
          >
            Sign out
          </button>
        </p>
      ) : null}
      <form
        className="form"
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
            void navigate('/');
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
    </Page>
  );
}
