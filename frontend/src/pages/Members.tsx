// The Members tab of a project: its members and their roles; maintainers (and
// admins) add a user with a role, change a role and remove a member.
import { useId, useState } from 'react';
import type { Member, Role } from '../api/client';
import { mayManageMembers, useMe } from '../api/me';
import { membersQuery, putMember, removeMember, ROLES, roleText } from '../api/members';
import { useQuery } from '../api/query';
import { ConfirmButton } from '../components/Confirm';
import { ErrorText, Loading } from '../components/common';
import '../components/forge.css';
import '../components/users.css';

function RoleSelect({ value, onChange, label, disabled }: { value: Role; onChange: (r: Role) => void; label: string; disabled?: boolean }) {
  return (
    <select aria-label={label} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as Role)}>
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

function MemberRow({ project, m, manage }: { project: string; m: Member; manage: boolean }) {
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
      <td>
        {m.displayName} <span className="muted mono">{m.user}</span>
      </td>
      <td>{manage ? <RoleSelect label={`Role of ${m.user}`} value={m.role} disabled={busy} onChange={(r) => void act(() => putMember(project, m.user, r))} /> : m.role}</td>
      {manage ? (
        <td>
          <ConfirmButton
            label={`Remove ${m.user}`}
            question={`Remove ${m.user} from this project?`}
            yes="Remove"
            busy={busy}
            onConfirm={() => act(() => removeMember(project, m.user))}
          />
          <ErrorText error={error} />
        </td>
      ) : null}
    </tr>
  );
}

function AddMember({ project }: { project: string }) {
  const [user, setUser] = useState('');
  const [role, setRole] = useState<Role>('developer');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const errId = useId();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    const r = await putMember(project, user.trim(), role);
    setBusy(false);
    if (!r.data) {
      setError(r.status === 404 ? `There is no user ${user.trim()}.` : r.error);
      return;
    }
    setDone(`${r.data.user} is now a ${r.data.role}.`);
    setUser('');
  };
  return (
    <>
      <h3>Add a member</h3>
      <form className="inline-form" onSubmit={(e) => void submit(e)}>
        <label>
          User name
          <input name="member" required autoComplete="off" autoCapitalize="none" spellCheck={false} value={user} onChange={(e) => setUser(e.target.value)} aria-describedby={error ? errId : undefined} />
        </label>
        <label>
          Role
          <select name="role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={busy}>
          Add member
        </button>
      </form>
      <p className="muted">
        {ROLES.map((r) => (
          <span key={r}>
            <strong>{r}</strong> {roleText[r]}.{' '}
          </span>
        ))}
      </p>
      <div id={errId}>
        <ErrorText error={error} />
      </div>
      {done ? <p role="status">{done}</p> : null}
    </>
  );
}

export default function MembersTab({ project }: { project: string }) {
  const me = useMe();
  const manage = mayManageMembers(me, project);
  const r = useQuery(membersQuery(project));
  return (
    <section aria-labelledby="members-h">
      <h2 id="members-h">Members</h2>
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.length === 0 ? <p className="muted">No members yet.</p> : null}
      {r.data && r.data.length > 0 ? (
        <table className="list" data-testid="members">
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              {manage ? (
                <th>
                  <span className="skip">Actions</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {r.data.map((m) => (
              <MemberRow key={m.user} project={project} m={m} manage={manage} />
            ))}
          </tbody>
        </table>
      ) : null}
      {manage ? <AddMember project={project} /> : null}
    </section>
  );
}
