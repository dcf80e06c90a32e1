// The Notifications tab of a project (maintainers): who hears about build
// results and how. List, add, change and delete rules; a webhook rule's signing
// secret is shown once, right after it was made.
import { useEffect, useId, useRef, useState } from 'react';
import {
  createNotification,
  deleteNotification,
  notificationsQuery,
  updateNotification,
  type Notification,
} from '../api/notifications';
import { useQuery } from '../api/query';
import { ConfirmButton } from '../components/Confirm';
import { Copy, ErrorText, Loading, RelTime } from '../components/common';
import '../components/forge.css';

type Kind = Notification['kind'];
type Result = Notification['on'][number];

const KINDS: Array<[Kind, string]> = [
  ['webhook', 'Webhook (signed JSON)'],
  ['slack', 'Slack'],
  ['matrix', 'Matrix (hookshot)'],
  ['discord', 'Discord'],
  ['email', 'E-mail'],
];
const RESULTS: Array<[Result, string]> = [
  ['failure', 'a build fails'],
  ['fixed', 'a build is fixed (the previous one in its collection failed)'],
  ['success', 'a build succeeds'],
];

interface Form {
  kind: Kind;
  target: string; // the URL, or the addresses separated by commas or spaces
  on: Result[];
  collections: string; // key=value, separated by commas or spaces
  allowPrivateNetwork: boolean;
}

const emptyForm = (): Form => ({ kind: 'slack', target: '', on: ['failure', 'fixed'], collections: '', allowPrivateNetwork: false });

const formOf = (n: Notification): Form => ({
  kind: n.kind,
  target: n.kind === 'email' ? (n.to ?? []).join(', ') : (n.url ?? ''),
  on: n.on,
  collections: Object.entries(n.collections)
    .map(([k, v]) => `${k}=${v}`)
    .join(', '),
  allowPrivateNetwork: n.allowPrivateNetwork,
});

// parseCollections reads "branch=main, request=*"; it returns the entry that is not key=value as a string.
function parseCollections(s: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of s.split(/[\s,]+/).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0 || i === part.length - 1) return part;
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

const targetOf = (n: Notification) => (n.kind === 'email' ? (n.to ?? []).join(', ') : (n.url ?? ''));

function RuleForm({ project, existing, onDone }: { project: string; existing?: Notification; onDone: (secret?: string) => void }) {
  const [v, setV] = useState<Form>(() => (existing ? formOf(existing) : emptyForm()));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [field, setField] = useState<string>();
  const errId = useId();
  const set = (p: Partial<Form>) => setV((old) => ({ ...old, ...p }));
  const invalid = (f: string) => (field === f || field?.startsWith(`${f}[`) ? true : undefined);

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setField(undefined);
    const collections = parseCollections(v.collections);
    if (typeof collections === 'string') {
      setError(`Collections are key=value (or key=* for any value): ${collections} is not.`);
      setField('collections');
      return;
    }
    if (v.on.length === 0) {
      setError('Choose at least one result to tell.');
      setField('on');
      return;
    }
    const to = v.target.split(/[\s,]+/).filter(Boolean);
    setBusy(true);
    const res = existing
      ? await updateNotification(project, existing.id, {
          ...(v.kind === 'email' ? { to } : { url: v.target.trim() }),
          on: v.on,
          collections,
          allowPrivateNetwork: v.allowPrivateNetwork,
        })
      : await createNotification(project, {
          kind: v.kind,
          ...(v.kind === 'email' ? { to } : { url: v.target.trim() }),
          on: v.on,
          collections,
          allowPrivateNetwork: v.allowPrivateNetwork,
        });
    setBusy(false);
    if (!res.data) {
      setError(res.error);
      setField(res.field);
      return;
    }
    onDone(res.data.secret);
  };

  const described = error ? errId : undefined;
  return (
    <form className="form forge-form" onSubmit={(e) => void save(e)} data-testid="notification-form">
      <label>
        Kind
        <select name="kind" value={v.kind} disabled={!!existing} onChange={(e) => set({ kind: e.target.value as Kind })}>
          {KINDS.map(([k, label]) => (
            <option key={k} value={k}>
              {label}
            </option>
          ))}
        </select>
      </label>
      <label>
        {v.kind === 'email' ? 'To' : 'Webhook URL'}
        <input
          name="target"
          required
          value={v.target}
          autoComplete="off"
          spellCheck={false}
          type={v.kind === 'email' ? 'text' : 'url'}
          placeholder={v.kind === 'email' ? 'dev@example.com, ops@example.com' : 'https://hooks.slack.com/services/…'}
          onChange={(e) => set({ target: e.target.value })}
          aria-invalid={invalid(v.kind === 'email' ? 'to' : 'url')}
          aria-describedby={described}
        />
        <span className="hint">
          {v.kind === 'email'
            ? 'E-mail addresses, separated by commas; sent through the server’s SMTP server.'
            : 'The incoming webhook’s http or https URL. Aura posts to it from the server.'}
        </span>
      </label>
      <fieldset aria-invalid={invalid('on')}>
        <legend>Tell when</legend>
        {RESULTS.map(([r, label]) => (
          <label className="check" key={r}>
            <input
              type="checkbox"
              name={`on-${r}`}
              checked={v.on.includes(r)}
              onChange={(e) => set({ on: e.target.checked ? [...v.on, r] : v.on.filter((x) => x !== r) })}
            />{' '}
            {label}
          </label>
        ))}
      </fieldset>
      <label>
        Collections
        <input
          name="collections"
          value={v.collections}
          autoComplete="off"
          spellCheck={false}
          placeholder="ref=main"
          onChange={(e) => set({ collections: e.target.value })}
          aria-invalid={invalid('collections')}
          aria-describedby={described}
        />
        <span className="hint">Only builds in these collections (key=value, key=* for any value); empty: every build.</span>
      </label>
      {v.kind !== 'email' ? (
        <label className="check">
          <input
            type="checkbox"
            name="allowPrivateNetwork"
            checked={v.allowPrivateNetwork}
            onChange={(e) => set({ allowPrivateNetwork: e.target.checked })}
          />{' '}
          The receiver is on a loopback or private address (self-hosted)
        </label>
      ) : null}
      <div id={errId}>
        <ErrorText error={error} />
      </div>
      <div className="form-end">
        {existing ? (
          <button type="button" onClick={() => onDone()}>
            Cancel
          </button>
        ) : null}
        <button type="submit" disabled={busy}>
          {existing ? 'Save rule' : 'Add rule'}
        </button>
      </div>
    </form>
  );
}

function SecretOnce({ secret, onClose }: { secret: string; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <section ref={ref} tabIndex={-1} className="forge-once" aria-labelledby="nsecret-h" data-testid="notification-secret">
      <h3 id="nsecret-h">The webhook’s signing secret</h3>
      <div className="copy-line">
        <span>Secret</span> <code>{secret}</code> <Copy text={secret} label="Copy secret" />
      </div>
      <p>
        <strong>Shown this one time only.</strong> Each delivery carries X-Aura-Signature-256: sha256=&lt;hex HMAC-SHA256 of the body with this
        secret&gt;.
      </p>
      <button type="button" onClick={onClose}>
        Done, I saved the secret
      </button>
    </section>
  );
}

export default function NotificationsTab({ project }: { project: string }) {
  const r = useQuery(notificationsQuery(project));
  const rules = r.data?.items;
  const [editing, setEditing] = useState<number>();
  const [secret, setSecret] = useState<string>();
  const [rowError, setRowError] = useState<string>();
  const [formKey, setFormKey] = useState(0);

  const remove = async (n: Notification) => {
    setRowError(undefined);
    const res = await deleteNotification(project, n.id);
    if (res.error !== undefined) setRowError(res.error);
  };

  return (
    <section aria-labelledby="notifications-h">
      <h2 id="notifications-h">Notifications</h2>
      <p className="muted">
        Tell people when a build — all the jobs of an entity — fails, is fixed or succeeds. Deliveries are retried until the receiver takes them.
      </p>
      <ErrorText error={r.error} />
      {!rules && !r.error ? <Loading /> : null}
      {rules && rules.length === 0 ? <p className="muted">No notification rules yet.</p> : null}
      {secret ? <SecretOnce secret={secret} onClose={() => setSecret(undefined)} /> : null}
      {rules && rules.length > 0 ? (
        <table className="list" data-testid="notifications">
          <thead>
            <tr>
              <th>Kind</th>
              <th>To</th>
              <th>When</th>
              <th className="hide-narrow">Collections</th>
              <th className="hide-narrow">Last sent</th>
              <th>
                <span className="skip">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.map((n) =>
              editing === n.id ? (
                <tr key={n.id}>
                  <td colSpan={6}>
                    <RuleForm
                      project={project}
                      existing={n}
                      onDone={(s) => {
                        setEditing(undefined);
                        if (s) setSecret(s);
                      }}
                    />
                  </td>
                </tr>
              ) : (
                <tr key={n.id}>
                  <td>{KINDS.find(([k]) => k === n.kind)?.[1] ?? n.kind}</td>
                  <td className="mono" style={{ wordBreak: 'break-all' }}>
                    {targetOf(n)}
                  </td>
                  <td>{n.on.join(', ')}</td>
                  <td className="hide-narrow mono small">
                    {Object.entries(n.collections)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ') || 'every build'}
                  </td>
                  <td className="hide-narrow">
                    {n.lastSentAt ? <RelTime at={n.lastSentAt} /> : <span className="muted">never</span>}
                    {n.lastFailure ? <div className="error small">{n.lastFailure}</div> : null}
                  </td>
                  <td>
                    <button type="button" onClick={() => setEditing(n.id)}>
                      Edit
                    </button>{' '}
                    <ConfirmButton label="Delete" question={`Delete this ${n.kind} rule?`} yes="Delete" onConfirm={() => remove(n)} />
                  </td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      ) : null}
      <ErrorText error={rowError} />
      <h3>Add a rule</h3>
      <RuleForm
        key={formKey}
        project={project}
        onDone={(s) => {
          setFormKey((k) => k + 1);
          if (s) setSecret(s);
        }}
      />
    </section>
  );
}
