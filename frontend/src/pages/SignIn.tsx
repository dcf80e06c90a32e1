import { useState } from 'react';
import { useNavigate } from 'react-router';
import { setToken, tokenKind } from '../api/client';
import { reconnect } from '../api/events';
import { Page } from '../components/common';

export function SignInPage() {
  const [value, setValue] = useState('');
  const navigate = useNavigate();
  const kind = tokenKind();
  return (
    <Page title="Sign in">
      {kind ? (
        <p>
          You are signed in with a{kind === 'admin' ? 'n' : ''} {kind} token.{' '}
          <button
            type="button"
            onClick={() => {
              setToken(null);
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
          setToken(value.trim());
          reconnect();
          void navigate('/');
        }}
      >
        <label>
          Admin or project token
          <input type="password" autoComplete="off" required value={value} onChange={(e) => setValue(e.target.value)} name="token" />
        </label>
        <p className="muted">The token stays in this browser (local storage) and goes only to this server.</p>
        <button type="submit">Sign in</button>
      </form>
    </Page>
  );
}
