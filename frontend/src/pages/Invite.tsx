// InvitePage: an invitation link sets the user's password once and signs them in.
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useQuery } from '../api/query';
import { acceptInvitation, invitationQuery } from '../api/session';
import { ErrorText, Loading, Page } from '../components/common';

export default function InvitePage() {
  const { token = '' } = useParams();
  const inv = useQuery(invitationQuery(token));
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  if (inv.error) {
    return (
      <Page title="Set your password">
        <ErrorText error={inv.status === 404 ? 'This link is not valid any more: it was used, replaced or has expired. Ask an admin for a new one.' : inv.error} />
        <p>
          <Link to="/signin">Sign in</Link>
        </p>
      </Page>
    );
  }
  if (!inv.data) return <Loading />;
  return (
    <Page title="Set your password">
      <p>
        Choose the password of <strong>{inv.data.user}</strong>. This link works once.
      </p>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          if (password !== again) {
            setError('The two passwords differ.');
            return;
          }
          setBusy(true);
          setError(undefined);
          void acceptInvitation(token, password).then((r) => {
            setBusy(false);
            if (!r.data) {
              setError(r.error);
              return;
            }
            void navigate('/');
          });
        }}
      >
        {/* The user name, for password managers. */}
        <input type="hidden" name="username" autoComplete="username" value={inv.data.user} readOnly />
        <label>
          New password
          <input name="password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <label>
          The same again
          <input name="again" type="password" autoComplete="new-password" required value={again} onChange={(e) => setAgain(e.target.value)} />
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>
          Set password and sign in
        </button>
      </form>
    </Page>
  );
}
