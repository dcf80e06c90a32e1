// The Secrets tab of a project (admin): the names of its secrets, set one (create
// or replace), delete one. Values go in and never come back.
import { useId, useState } from 'react';
import { useQuery } from '../api/query';
import { deleteSecret, secretsQuery, setSecret } from '../api/secrets';
import { ConfirmButton } from '../components/Confirm';
import { ErrorText, Loading, RelTime } from '../components/common';
import '../components/forge.css';

export default function SecretsTab({ project }: { project: string }) {
  const r = useQuery(secretsQuery(project));
  const secrets = r.data?.items;
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [field, setField] = useState<string>();
  const [done, setDone] = useState<string>();
  const [rowError, setRowError] = useState<string>();
  const errId = useId();

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setField(undefined);
    setDone(undefined);
    const res = await setSecret(project, name, value);
    setBusy(false);
    if (!res.data) {
      setError(res.error);
      setField(res.field);
      return;
    }
    setDone(`Secret ${res.data.name} ${res.status === 201 ? 'created' : 'replaced'}.`);
    setValue('');
    setName('');
  };

  const remove = async (n: string) => {
    setRowError(undefined);
    setDone(undefined);
    const res = await deleteSecret(project, n);
    if (res.error !== undefined) setRowError(res.error);
    else setDone(`Secret ${n} deleted.`);
  };

  return (
    <section aria-labelledby="secrets-h">
      <h2 id="secrets-h">Secrets</h2>
      <p className="muted">
        Integrations&apos; jobs get the secrets they name as secret environment variables; requests from forks never do. Values are sealed and never
        shown again.
      </p>
      <ErrorText error={r.error} />
      {!secrets && !r.error ? <Loading /> : null}
      {secrets && secrets.length === 0 ? <p className="muted">No secrets yet.</p> : null}
      {secrets && secrets.length > 0 ? (
        <table className="list" data-testid="secrets">
          <thead>
            <tr>
              <th>Name</th>
              <th className="hide-narrow">Set</th>
              <th>
                <span className="skip">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {secrets.map((s) => (
              <tr key={s.name}>
                <td className="mono">{s.name}</td>
                <td className="hide-narrow">
                  <RelTime at={s.updatedAt} />
                </td>
                <td>
                  <ConfirmButton label={`Delete ${s.name}`} question={`Delete secret ${s.name}?`} yes="Delete" onConfirm={() => remove(s.name)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorText error={rowError} />
      <h3>Set a secret</h3>
      <form className="form forge-form" onSubmit={(e) => void save(e)}>
        <label>
          Name
          <input
            name="secretName"
            required
            pattern="[A-Za-z_][A-Za-z0-9_]*"
            title="A variable name: letters, digits and _"
            value={name}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setName(e.target.value)}
            aria-invalid={field === 'name' || undefined}
            aria-describedby={error ? errId : undefined}
          />
          <span className="hint">An existing name replaces its value.</span>
        </label>
        <label>
          Value
          <input
            name="secretValue"
            type="password"
            required
            minLength={8}
            autoComplete="new-password"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            aria-invalid={field === 'value' || undefined}
            aria-describedby={error ? errId : undefined}
          />
          <span className="hint">At least 8 characters.</span>
        </label>
        <div id={errId}>
          <ErrorText error={error} />
        </div>
        {done ? (
          <p role="status" className="forge-result ok">
            {done}
          </p>
        ) : null}
        <div className="form-end">
          <button type="submit" disabled={busy}>
            Save secret
          </button>
        </div>
      </form>
    </section>
  );
}
