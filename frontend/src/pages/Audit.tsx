// The audit log: who changed what, when and from where (admins only).
import { Link, useSearchParams } from 'react-router';
import { auditQuery, type AuditEntry } from '../api/audit';
import { useMe } from '../api/me';
import { useQuery } from '../api/query';
import { ErrorText, Loading, Page, RelTime } from '../components/common';
import { actorText } from '../lib/actor';

// detailText writes an entry's detail as "key: value" pairs, for reading.
function detailText(d: AuditEntry['detail']): string {
  return Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(', ');
}

export function AuditPage() {
  const me = useMe();
  const [params, setParams] = useSearchParams();
  const actor = params.get('actor') ?? '';
  const action = params.get('action') ?? '';
  const project = params.get('project') ?? '';
  const before = Number(params.get('before') ?? '') || undefined;
  const allowed = !!me?.permissions.readAudit;
  const r = useQuery(allowed ? auditQuery({ actor, action, project, before }) : null);
  const entries = r.data?.entries;
  const next = r.data?.next;
  const set = (k: string, v: string) => {
    const n = new URLSearchParams(params);
    if (v) n.set(k, v);
    else n.delete(k);
    n.delete('before'); // a new filter starts from the newest
    setParams(n, { replace: true });
  };
  const page = (b: number | undefined) => {
    const n = new URLSearchParams(params);
    if (b) n.set('before', String(b));
    else n.delete('before');
    setParams(n);
  };
  if (me && !allowed) {
    return (
      <Page title="Audit log">
        <p className="muted">
          Only an admin reads the audit log. <Link to="/sign-in">Sign in</Link> as one.
        </p>
      </Page>
    );
  }
  return (
    <Page title="Audit log" wide>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Who <input name="actor" defaultValue={actor} onChange={(e) => set('actor', e.target.value.trim())} />
        </label>
        <label>
          Action <input name="action" placeholder="secret.set" defaultValue={action} onChange={(e) => set('action', e.target.value.trim().replace(/\.+$/, ''))} />
        </label>
        <label>
          Project <input name="project" defaultValue={project} onChange={(e) => set('project', e.target.value.trim())} />
        </label>
      </form>
      <ErrorText error={r.error} />
      {!entries && !r.error ? <Loading /> : null}
      {entries && entries.length === 0 ? <p className="muted">Nothing recorded{before ? ' before this' : ''}.</p> : null}
      {entries && entries.length > 0 ? (
        <table className="list" aria-label="Audit log">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th className="hide-narrow">Address</th>
              <th>Action</th>
              <th>Project</th>
              <th>Target</th>
              <th className="hide-narrow">Detail</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id} data-testid="audit-entry">
                <td>
                  <RelTime at={e.at} />
                </td>
                <td>{actorText(e.actor)}</td>
                <td className="hide-narrow mono">{e.address}</td>
                <td className="mono">{e.action}</td>
                <td>{e.project ? <Link to={`/p/${encodeURIComponent(e.project)}`}>{e.project}</Link> : <span className="muted">–</span>}</td>
                <td className="mono">{e.target}</td>
                <td className="hide-narrow muted">{detailText(e.detail)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <p className="actions">
        {before ? (
          <button type="button" onClick={() => page(undefined)}>
            Newest
          </button>
        ) : null}{' '}
        {next ? (
          <button type="button" onClick={() => page(next)}>
            Older
          </button>
        ) : null}
      </p>
    </Page>
  );
}
