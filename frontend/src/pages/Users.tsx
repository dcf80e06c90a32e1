// UsersPage (admins): the users, creating one (with a password, or an invitation
// link that sets it once), disabling and enabling, a new password link, deleting.
import { useId, useState } from 'react';
import { Link } from 'react-router';
import type { User } from '../api/client';
import { useMe } from '../api/me';
import { useQuery } from '../api/query';
import { invitationLink } from '../api/session';
import { createUser, deleteUser, resetPassword, updateUser, usersQuery } from '../api/users';
import { ConfirmButton } from '../components/Confirm';
import { Copy, ErrorText, Loading, Page, RelTime } from '../components/common';
import '../components/forge.css';
import '../components/users.css';

interface Link_ {
  user: string;
  url: string;
  expiresAt: string;
  reset: boolean;
}

// InvitationBox shows a password link once, to copy and hand to its user.
function InvitationBox({ link }: { link: Link_ }) {
  const url = invitationLink(link.url);
  return (
    <div className="forge-once" role="status">
      <h3>{link.reset ? `New password link for ${link.user}` : `Invitation for ${link.user}`}</h3>
      <p>
        Give this link to {link.user}: it sets their password once, and expires <RelTime at={link.expiresAt} />.
      </p>
      <div className="copy-line">
        <code data-testid="invitation">{url}</code> <Copy text={url} />
      </div>
    </div>
  );
}

function UserRow({ u, self, onLink }: { u: User; self: boolean; onLink: (l: Link_) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const act = async (f: () => Promise<{ error?: string }>) => {
    setBusy(true);
    setError(undefined);
    const r = await f();
    setBusy(false);
    if (r.error !== undefined) setError(r.error);
  };
  return (
    <tr>
      <td className="mono nowrap">{u.name}</td>
      <td>
        {u.displayName}
        {u.admin ? <span className="pill">admin</span> : null}
        {u.disabled ? <span className="pill">disabled</span> : null}
      </td>
      <td className="hide-narrow">{u.email}</td>
      <td className="hide-narrow">{u.lastSignInAt ? <RelTime at={u.lastSignInAt} /> : <span className="muted">never</span>}</td>
      <td>
        <div className="row-actions">
          {self ? null : (
            <button type="button" disabled={busy} onClick={() => void act(() => updateUser(u.name, { disabled: !u.disabled }))}>
              {u.disabled ? `Enable ${u.name}` : `Disable ${u.name}`}
            </button>
          )}
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              void act(async () => {
                const r = await resetPassword(u.name);
                if (r.data) onLink({ user: u.name, url: r.data.url, expiresAt: r.data.expiresAt, reset: true });
                return r;
              })
            }
          >
            Reset password of {u.name}
          </button>
          {self ? null : (
            <ConfirmButton
              label={`Delete ${u.name}`}
              question={`Delete user ${u.name}, their sessions, tokens and memberships?`}
              yes="Delete"
              busy={busy}
              onConfirm={() => act(() => deleteUser(u.name))}
            />
          )}
        </div>
        <ErrorText error={error} />
      </td>
    </tr>
  );
}

function NewUser({ onLink }: { onLink: (l: Link_) => void }) {
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [email, setEmail] = useState('');
  const [invite, setInvite] = useState(true);
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [field, setField] = useState<string>();
  const [done, setDone] = useState<string>();
  const errId = useId();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setField(undefined);
    setDone(undefined);
    const r = await createUser({ name: name.trim(), displayName: displayName.trim(), email: email.trim(), admin, ...(invite ? {} : { password }) });
    setBusy(false);
    if (!r.data) {
      setError(r.error);
      setField(r.field);
      return;
    }
    if (r.data.invitation) onLink({ user: r.data.name, ...r.data.invitation, reset: false });
    else setDone(`User ${r.data.name} created.`);
    setName('');
    setDisplayName('');
    setEmail('');
    setPassword('');
    setAdmin(false);
  };
  const bad = (f: string) => (field === f ? true : undefined);
  const described = error ? errId : undefined;
  return (
    <section aria-labelledby="new-user-h">
      <h2 id="new-user-h">New user</h2>
      <form className="form" onSubmit={(e) => void submit(e)}>
        <label>
          User name
          <input
            name="name"
            required
            pattern="[a-z0-9][a-z0-9._\-]{0,38}"
            title="Lower-case letters, digits, . _ and -, up to 39"
            autoComplete="off"
            autoCapitalize="none"
            spellCheck={false}
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={bad('name')}
            aria-describedby={described}
          />
        </label>
        <label>
          Display name
          <input name="displayName" required autoComplete="off" value={displayName} onChange={(e) => setDisplayName(e.target.value)} aria-invalid={bad('displayName')} aria-describedby={described} />
        </label>
        <label>
          Email
          <input name="email" type="email" required autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} aria-invalid={bad('email')} aria-describedby={described} />
        </label>
        <fieldset className="choices">
          <legend>Password</legend>
          <label className="check">
            <input type="radio" name="passwordWay" checked={invite} onChange={() => setInvite(true)} /> Send an invitation link (the user sets it)
          </label>
          <label className="check">
            <input type="radio" name="passwordWay" checked={!invite} onChange={() => setInvite(false)} /> Set a password now
          </label>
          {invite ? null : (
            <label>
              Password
              <input
                name="password"
                type="password"
                required
                autoComplete="new-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
                aria-invalid={bad('password')}
                aria-describedby={described}
              />
            </label>
          )}
        </fieldset>
        <label className="check">
          <input type="checkbox" name="admin" checked={admin} onChange={(e) => setAdmin(e.target.checked)} /> Admin (may do everything)
        </label>
        <div id={errId}>
          <ErrorText error={error} />
        </div>
        {done ? <p role="status">{done}</p> : null}
        <button type="submit" disabled={busy}>
          Create user
        </button>
      </form>
    </section>
  );
}

export default function UsersPage() {
  const me = useMe();
  const may = !!me?.permissions.manageUsers;
  const r = useQuery(may ? usersQuery() : null);
  const [link, setLink] = useState<Link_>();
  if (!me) return <Loading />;
  if (!may) {
    return (
      <Page title="Users">
        <p>
          Only admins manage users. <Link to="/signin">Sign in</Link> as one.
        </p>
      </Page>
    );
  }
  const self = me.kind === 'user' ? me.name : undefined;
  return (
    <Page title="Users">
      {link ? <InvitationBox link={link} /> : null}
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.length === 0 ? <p className="muted">No users yet.</p> : null}
      {r.data && r.data.length > 0 ? (
        <table className="list" data-testid="users">
          <thead>
            <tr>
              <th>Name</th>
              <th>Display name</th>
              <th className="hide-narrow">Email</th>
              <th className="hide-narrow">Last sign-in</th>
              <th>
                <span className="skip">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {r.data.map((u) => (
              <UserRow key={u.id} u={u} self={u.name === self} onLink={setLink} />
            ))}
          </tbody>
        </table>
      ) : null}
      <NewUser onLink={setLink} />
    </Page>
  );
}
