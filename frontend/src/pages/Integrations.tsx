// The Integrations tab of a project (admin): the repositories connected to it,
// connecting one (the webhook URL and secret are shown once), changing,
// testing the status reports, and disconnecting.
import { useEffect, useId, useRef, useState } from 'react';
import type { Schemas } from '../api/client';
import { createIntegration, deleteIntegration, integrationsQuery, testIntegration, updateIntegration } from '../api/integrations';
import { useQuery } from '../api/query';
import { runIntegration } from '../api/schedules';
import { secretsQuery } from '../api/secrets';
import { ConfirmButton } from '../components/Confirm';
import { RunForm, runBody } from '../components/RunForm';
import { Copy, ErrorText, Loading, RelTime } from '../components/common';
import '../components/forge.css';

type Integration = Schemas['Integration'];
type Kind = Schemas['IntegrationKind'];
type Event = Integration['events'][number];
type ForkPolicy = Integration['forkPolicy'];
type JobTemplate = Schemas['JobTemplate'];

// ForgeHelp is what the page says about one kind of integration.
interface ForgeHelp {
  name: string;
  // events are those its deliveries can start (as the server's registry says).
  events: Event[];
  // apiUrl is an example API address; only forges that take commit statuses have one.
  apiUrl?: string;
  repository: string;
  howTo: string;
}

// FORGES holds every kind's row, keyed by the spec's IntegrationKind: a kind
// added to openapi.yaml fails the type check until it has its row here. What a
// forge supports mirrors backend/internal/integrations (its registry), which
// decides; the server refuses events a kind does not know.
const FORGES: Record<Kind, ForgeHelp> = {
  gitea: {
    name: 'Gitea',
    events: ['push', 'tag', 'request'],
    apiUrl: 'https://gitea.example/api/v1',
    repository: 'owner/name',
    howTo:
      'In Gitea: the repository’s Settings → Webhooks → Add webhook → Gitea; Target URL and Secret from here, content type application/json, push and pull request events.',
  },
  forgejo: {
    name: 'Forgejo',
    events: ['push', 'tag', 'request'],
    apiUrl: 'https://codeberg.org/api/v1',
    repository: 'owner/name',
    howTo:
      'In Forgejo: the repository’s Settings → Webhooks → Add webhook → Forgejo; Target URL and Secret from here, content type application/json, push and pull request events.',
  },
  github: {
    name: 'GitHub',
    events: ['push', 'tag', 'request'],
    apiUrl: 'https://api.github.com',
    repository: 'owner/name',
    howTo:
      'On GitHub: the repository’s Settings → Webhooks → Add webhook; Payload URL and Secret from here, content type application/json, pushes and pull requests.',
  },
  gitlab: {
    name: 'GitLab',
    events: ['push', 'tag', 'request'],
    apiUrl: 'https://gitlab.example/api/v4',
    repository: 'owner/name or 1234',
    howTo:
      'In GitLab: the project’s Settings → Webhooks → Add new webhook; URL, and the secret as Secret token; push, tag push and merge request events.',
  },
  darke: {
    name: 'Darke Files',
    events: ['push', 'tag'],
    repository: 'owner/name',
    howTo: 'In Darke Files: add a webhook with this URL and secret (signed as X-Hub-Signature-256).',
  },
  generic: {
    name: 'Generic',
    events: ['push', 'tag'],
    repository: 'owner/name',
    howTo: 'Send deliveries to this URL, signed as X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the secret>.',
  },
};
const KINDS = Object.keys(FORGES) as Kind[];
const kindName = (k: Kind) => FORGES[k].name;
const reportsStatus = (k: Kind) => FORGES[k].apiUrl !== undefined;
// kindEvents are the events of events that kind k knows.
const kindEvents = (k: Kind, events: Event[]) => events.filter((e) => FORGES[k].events.includes(e));
const EVENTS: Array<[Event, string]> = [
  ['push', 'Pushes'],
  ['tag', 'Tags'],
  ['request', 'Pull/merge requests'],
];

// A job template as the form edits it: env and secrets as text.
interface JobRow {
  key: number;
  name: string;
  tag: string;
  cmd: string;
  env: string;
  secrets: string;
}

interface FormValue {
  kind: Kind;
  repository: string;
  apiUrl: string;
  accessToken: string;
  removeToken: boolean;
  allowPrivateNetwork: boolean;
  events: Event[];
  forkPolicy: ForkPolicy;
  contextPerJob: boolean;
  jobs: JobRow[];
}

let rowKeys = 0;
const emptyJob = (): JobRow => ({ key: ++rowKeys, name: 'build', tag: '', cmd: '', env: '', secrets: '' });

function toRow(t: JobTemplate): JobRow {
  return {
    key: ++rowKeys,
    name: t.name,
    tag: t.tag,
    cmd: t.cmd,
    env: Object.entries(t.env ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
    secrets: (t.secrets ?? []).join(' '),
  };
}

// toTemplates turns the rows into the API's templates, or says what is wrong.
function toTemplates(rows: JobRow[]): { jobs?: JobTemplate[]; error?: string } {
  const jobs: JobTemplate[] = [];
  for (const [i, r] of rows.entries()) {
    const env: Record<string, string> = {};
    for (const line of r.env.split('\n')) {
      if (line.trim() === '') continue;
      const eq = line.indexOf('=');
      if (eq <= 0) return { error: `Job ${i + 1}: environment line “${line}” is not KEY=value.` };
      env[line.slice(0, eq).trim()] = line.slice(eq + 1);
    }
    const secrets = r.secrets.split(/[\s,]+/).filter(Boolean);
    jobs.push({ name: r.name.trim(), tag: r.tag.trim(), cmd: r.cmd, env, secrets });
  }
  return { jobs };
}

function fromIntegration(i: Integration): FormValue {
  return {
    kind: i.kind,
    repository: i.repository,
    apiUrl: i.apiUrl,
    accessToken: '',
    removeToken: false,
    allowPrivateNetwork: i.allowPrivateNetwork,
    events: i.events,
    forkPolicy: i.forkPolicy,
    contextPerJob: i.contextPerJob,
    jobs: i.jobs.map(toRow),
  };
}

const blank = (): FormValue => ({
  kind: 'gitea',
  repository: '',
  apiUrl: '',
  accessToken: '',
  removeToken: false,
  allowPrivateNetwork: false,
  events: ['push', 'tag', 'request'],
  forkPolicy: 'approve',
  contextPerJob: false,
  jobs: [emptyJob()],
});

// IntegrationForm creates (no `existing`) or changes an integration.
function IntegrationForm({
  project,
  existing,
  secretNames,
  onDone,
  onCancel,
}: {
  project: string;
  existing?: Integration;
  secretNames: string[];
  onDone: (i: Integration) => void;
  onCancel: () => void;
}) {
  const [v, setV] = useState<FormValue>(() => (existing ? fromIntegration(existing) : blank()));
  const [error, setError] = useState<string>();
  const [field, setField] = useState<string>();
  const [busy, setBusy] = useState(false);
  const errId = useId();
  const first = useRef<HTMLSelectElement & HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const set = (p: Partial<FormValue>) => setV((o) => ({ ...o, ...p }));
  const setJob = (key: number, p: Partial<JobRow>) => setV((o) => ({ ...o, jobs: o.jobs.map((j) => (j.key === key ? { ...j, ...p } : j)) }));
  const invalid = (f: string) => (field === f ? true : undefined);
  const described = error ? errId : undefined;
  const status = reportsStatus(v.kind);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setField(undefined);
    const t = toTemplates(v.jobs);
    if (!t.jobs) {
      setError(t.error);
      return;
    }
    const events = kindEvents(v.kind, v.events);
    if (events.length === 0) {
      setError('Choose at least one event.');
      setField('events');
      return;
    }
    setBusy(true);
    const common = {
      repository: v.repository.trim(),
      apiUrl: status ? v.apiUrl.trim() : '',
      events,
      jobs: t.jobs,
      contextPerJob: v.contextPerJob,
      forkPolicy: v.forkPolicy,
      allowPrivateNetwork: v.allowPrivateNetwork,
    };
    const res = existing
      ? await updateIntegration(project, existing.id, {
          ...common,
          ...(v.removeToken ? { accessToken: '' } : v.accessToken ? { accessToken: v.accessToken } : {}),
        })
      : await createIntegration(project, { ...common, kind: v.kind, ...(status && v.accessToken ? { accessToken: v.accessToken } : {}) });
    setBusy(false);
    if (!res.data) {
      setError(res.error);
      setField(res.field);
      return;
    }
    onDone(res.data);
  };

  return (
    <form className="form forge-form" onSubmit={(e) => void submit(e)} aria-label={existing ? `Change ${existing.repository}` : 'Connect a repository'}>
      <div className="row">
        <label>
          Forge
          {existing ? (
            <input ref={first} name="kind" value={kindName(v.kind)} readOnly />
          ) : (
            <select ref={first} name="kind" value={v.kind} onChange={(e) => set({ kind: e.target.value as Kind })}>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {kindName(k)}
                </option>
              ))}
            </select>
          )}
        </label>
        <label>
          Repository
          <input
            name="repository"
            required
            maxLength={300}
            spellCheck={false}
            autoComplete="off"
            placeholder={FORGES[v.kind].repository}
            value={v.repository}
            onChange={(e) => set({ repository: e.target.value })}
            aria-invalid={invalid('repository')}
            aria-describedby={described}
          />
        </label>
      </div>
      {status ? (
        <fieldset>
          <legend>Statuses back to {kindName(v.kind)}</legend>
          <label>
            API URL
            <input
              name="apiUrl"
              type="url"
              maxLength={2000}
              spellCheck={false}
              placeholder={FORGES[v.kind].apiUrl}
              value={v.apiUrl}
              onChange={(e) => set({ apiUrl: e.target.value })}
              aria-invalid={invalid('apiUrl')}
              aria-describedby={described}
            />
            <span className="hint">Leave empty to report no status.</span>
          </label>
          <label>
            Access token
            <input
              name="accessToken"
              type="password"
              autoComplete="new-password"
              maxLength={10000}
              value={v.accessToken}
              disabled={v.removeToken}
              onChange={(e) => set({ accessToken: e.target.value })}
              aria-invalid={invalid('accessToken')}
              aria-describedby={described}
            />
            <span className="hint">
              {existing?.hasAccessToken ? 'A token is set; a new one here replaces it. ' : ''}Needs the right to set commit statuses. Kept sealed,
              never shown.
            </span>
          </label>
          {existing?.hasAccessToken ? (
            <label className="check">
              <input type="checkbox" name="removeToken" checked={v.removeToken} onChange={(e) => set({ removeToken: e.target.checked })} /> Remove the
              access token
            </label>
          ) : null}
          <label className="check">
            <input
              type="checkbox"
              name="allowPrivateNetwork"
              checked={v.allowPrivateNetwork}
              onChange={(e) => set({ allowPrivateNetwork: e.target.checked })}
            />{' '}
            The forge is on a loopback or private address (self-hosted)
          </label>
          <label className="check">
            <input type="checkbox" name="contextPerJob" checked={v.contextPerJob} onChange={(e) => set({ contextPerJob: e.target.checked })} /> One
            status per job (aura/&lt;name&gt;) instead of one “aura”
          </label>
        </fieldset>
      ) : (
        <p className="hint">{kindName(v.kind)} integrations start jobs but report no status.</p>
      )}
      <fieldset>
        <legend>Start jobs on</legend>
        <div className="checks">
          {EVENTS.filter(([ev]) => FORGES[v.kind].events.includes(ev)).map(([ev, label]) => (
            <label key={ev}>
              <input
                type="checkbox"
                name={`event-${ev}`}
                checked={v.events.includes(ev)}
                onChange={(e) => set({ events: e.target.checked ? [...v.events, ev] : v.events.filter((x) => x !== ev) })}
              />
              {label}
            </label>
          ))}
        </div>
        {FORGES[v.kind].events.includes('request') ? (
          <label>
            Requests from forks
            <select name="forkPolicy" value={v.forkPolicy} onChange={(e) => set({ forkPolicy: e.target.value as ForkPolicy })}>
              <option value="approve">wait for a person to approve them</option>
              <option value="without-secrets">run at once, without secrets</option>
            </select>
            <span className="hint">Either way they never get the project&apos;s secrets.</span>
          </label>
        ) : null}
      </fieldset>
      {v.jobs.map((j, i) => (
        <fieldset key={j.key} data-testid={`job-${i}`}>
          <legend>Job {i + 1}</legend>
          <div className="row">
            <label>
              Name
              <input
                name={`job-${i}-name`}
                required
                pattern="[0-9A-Za-z_:.\-]{1,260}"
                title="Letters, digits and _ : . -; not “approval”"
                spellCheck={false}
                value={j.name}
                onChange={(e) => setJob(j.key, { name: e.target.value })}
              />
            </label>
            <label>
              Tag
              <input
                name={`job-${i}-tag`}
                required
                spellCheck={false}
                placeholder="native,linux"
                value={j.tag}
                onChange={(e) => setJob(j.key, { tag: e.target.value })}
              />
            </label>
          </div>
          <label>
            Command
            <textarea
              name={`job-${i}-cmd`}
              required
              rows={3}
              spellCheck={false}
              placeholder={'git clone "$AURA_GIT_URL" src && cd src && git checkout "$AURA_GIT_SHA" && make test'}
              value={j.cmd}
              onChange={(e) => setJob(j.key, { cmd: e.target.value })}
            />
          </label>
          <label>
            Environment
            <textarea
              name={`job-${i}-env`}
              rows={2}
              spellCheck={false}
              placeholder="KEY=value, one a line"
              value={j.env}
              onChange={(e) => setJob(j.key, { env: e.target.value })}
            />
          </label>
          <label>
            Secrets
            <input
              name={`job-${i}-secrets`}
              spellCheck={false}
              autoComplete="off"
              placeholder="DEPLOY_KEY NPM_TOKEN"
              value={j.secrets}
              onChange={(e) => setJob(j.key, { secrets: e.target.value })}
            />
            <span className="hint">
              Names of project secrets, separated by spaces
              {secretNames.length ? `; the project has ${secretNames.join(', ')}` : '; the project has none yet (Secrets tab)'}.
            </span>
          </label>
          <div>
            <button
              type="button"
              disabled={v.jobs.length === 1}
              aria-label={`Remove job ${i + 1}`}
              onClick={() => set({ jobs: v.jobs.filter((x) => x.key !== j.key) })}
            >
              Remove job
            </button>
          </div>
        </fieldset>
      ))}
      <div>
        <button type="button" disabled={v.jobs.length >= 20} onClick={() => set({ jobs: [...v.jobs, { ...emptyJob(), name: '' }] })}>
          Add a job
        </button>
      </div>
      <div id={errId}>
        <ErrorText error={error} />
      </div>
      <div className="form-end">
        <button type="submit" disabled={busy}>
          {existing ? 'Save changes' : 'Connect'}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

// ShownOnce is the webhook URL and the secret right after they were made.
function ShownOnce({ i, onClose }: { i: Integration & { secret: string }; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <section ref={ref} tabIndex={-1} className="forge-once" aria-labelledby="once-h" data-testid="shown-once">
      <h3 id="once-h">
        Paste these into {kindName(i.kind)} for {i.repository}
      </h3>
      <div className="copy-line">
        <span>Webhook URL</span> <code data-testid="webhook-url">{i.webhookUrl}</code> <Copy text={i.webhookUrl} label="Copy webhook URL" />
      </div>
      <div className="copy-line">
        <span>Secret</span> <code data-testid="webhook-secret">{i.secret}</code> <Copy text={i.secret} label="Copy secret" />
      </div>
      <p>
        <strong>The secret is shown this one time only.</strong> Aura keeps it sealed and will not show it again; if it is lost, make a new one
        with “New webhook secret”.
      </p>
      <p className="muted">{FORGES[i.kind].howTo}</p>
      <button type="button" onClick={onClose}>
        Done, I saved the secret
      </button>
    </section>
  );
}

const SHA = /^([0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;

function IntegrationCard({
  project,
  i,
  secretNames,
  onChanged,
  onSecret,
}: {
  project: string;
  i: Integration;
  secretNames: string[];
  onChanged: () => void;
  onSecret: (i: Integration & { secret: string }) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [running, setRunning] = useState(false);
  const [sha, setSha] = useState('');
  const [testing, setTesting] = useState(false);
  const [test, setTest] = useState<{ ok: boolean; text: string }>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [flash, setFlash] = useState<string>();
  const editBtn = useRef<HTMLButtonElement>(null);
  const headingId = useId();
  const status = reportsStatus(i.kind);

  const sendTest = async (e: React.FormEvent) => {
    e.preventDefault();
    setTesting(true);
    setTest(undefined);
    const res = await testIntegration(project, i.id, sha.trim());
    setTesting(false);
    if (!res.data) setTest({ ok: false, text: res.error ?? 'request failed' });
    else setTest({ ok: res.data.delivered, text: `${res.data.delivered ? 'Delivered' : 'Not delivered'}: ${res.data.message}` });
    onChanged();
  };

  const remove = async () => {
    setBusy(true);
    setError(undefined);
    const res = await deleteIntegration(project, i.id);
    setBusy(false);
    if (res.error !== undefined) setError(res.error);
    onChanged();
  };

  const regenerate = async () => {
    setBusy(true);
    setError(undefined);
    const res = await updateIntegration(project, i.id, { regenerateSecret: true });
    setBusy(false);
    if (!res.data) setError(res.error);
    else if (res.data.secret) onSecret({ ...res.data, secret: res.data.secret });
    onChanged();
  };

  if (editing) {
    return (
      <article className="forge-card" aria-labelledby={headingId}>
        <h3 id={headingId}>
          Change {kindName(i.kind)} · {i.repository}
        </h3>
        <IntegrationForm
          project={project}
          existing={i}
          secretNames={secretNames}
          onCancel={() => {
            setEditing(false);
            setTimeout(() => editBtn.current?.focus());
          }}
          onDone={() => {
            setEditing(false);
            setFlash('Saved.');
            onChanged();
            setTimeout(() => editBtn.current?.focus());
          }}
        />
      </article>
    );
  }
  return (
    <article className="forge-card" aria-labelledby={headingId} data-integration={i.id}>
      <h3 id={headingId}>
        {kindName(i.kind)} · <span className="mono">{i.repository}</span>
      </h3>
      <dl>
        <dt>Webhook URL</dt>
        <dd>
          <code>{i.webhookUrl}</code> <Copy text={i.webhookUrl} label="Copy webhook URL" />
        </dd>
        <dt>Webhook secret</dt>
        <dd>{i.hasSecret ? 'set (shown only when made)' : <span className="forge-failure">none: every delivery is refused</span>}</dd>
        <dt>Events</dt>
        <dd>{i.events.length ? i.events.map((e) => EVENTS.find(([x]) => x === e)?.[1] ?? e).join(', ') : <span className="muted">–</span>}</dd>
        <dt>Forks</dt>
        <dd>{i.forkPolicy === 'approve' ? 'wait for approval, no secrets' : 'run without secrets'}</dd>
        <dt>Statuses</dt>
        <dd>
          {!status ? (
            <span className="muted">{kindName(i.kind)} takes no statuses</span>
          ) : i.apiUrl ? (
            <>
              to <span className="mono">{i.apiUrl}</span>
              {i.hasAccessToken ? ', with an access token' : <span className="forge-failure">, but no access token</span>}
              {i.contextPerJob ? '; one per job' : ''}
              {i.allowPrivateNetwork ? '; private network allowed' : ''}
            </>
          ) : (
            <span className="muted">not reported (no API URL)</span>
          )}
        </dd>
        <dt>Last delivery</dt>
        <dd data-testid="last-delivery">
          {i.lastDeliveryAt ? (
            <>
              <RelTime at={i.lastDeliveryAt} />: {i.lastDelivery}
            </>
          ) : (
            <span className="muted">none yet</span>
          )}
        </dd>
        {status ? (
          <>
            <dt>Last status sent</dt>
            <dd data-testid="last-status">{i.lastStatusAt ? <RelTime at={i.lastStatusAt} /> : <span className="muted">none yet</span>}</dd>
            <dt>Last failure</dt>
            <dd data-testid="last-failure">
              {i.lastFailureAt ? (
                <span className="forge-failure">
                  <RelTime at={i.lastFailureAt} />: {i.lastFailure}
                </span>
              ) : (
                <span className="muted">none</span>
              )}
            </dd>
          </>
        ) : null}
      </dl>
      <table className="list">
        <caption className="skip">Jobs submitted for each event</caption>
        <thead>
          <tr>
            <th>Job</th>
            <th>Tag</th>
            <th className="hide-narrow">Command</th>
            <th className="hide-narrow">Env and secrets</th>
          </tr>
        </thead>
        <tbody>
          {i.jobs.map((j) => (
            <tr key={j.name}>
              <td>{j.name}</td>
              <td className="mono">{j.tag}</td>
              <td className="hide-narrow">
                <pre className="cmd">{j.cmd}</pre>
              </td>
              <td className="hide-narrow mono">
                {[...Object.keys(j.env ?? {}), ...(j.secrets ?? []).map((s) => `${s} (secret)`)].join(', ') || <span className="muted">–</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {status && i.apiUrl ? (
        <form className="forge-test" onSubmit={(e) => void sendTest(e)}>
          <label>
            Commit to mark
            <input
              name="testSha"
              required
              spellCheck={false}
              autoComplete="off"
              pattern="[0-9a-fA-F]{40}|[0-9a-fA-F]{64}"
              title="A commit id: 40 or 64 hex digits"
              placeholder="40 or 64 hex digits"
              value={sha}
              onChange={(e) => setSha(e.target.value)}
            />
          </label>
          <button type="submit" disabled={testing || !SHA.test(sha.trim())}>
            {testing ? 'Sending…' : 'Send a test status'}
          </button>
        </form>
      ) : null}
      <p role="status" data-testid="test-result" className={`forge-result ${test ? (test.ok ? 'ok' : 'bad') : ''}`}>
        {test?.text ?? flash ?? ''}
      </p>
      {running ? (
        <RunForm project={project} withRef label={`Run ${i.repository}`} run={(v) => runIntegration(project, i.id, runBody(v))} />
      ) : null}
      <div className="forge-actions">
        <button type="button" aria-expanded={running} onClick={() => setRunning((x) => !x)}>
          {running ? 'Close' : 'Run…'}
        </button>
        <button ref={editBtn} type="button" onClick={() => (setFlash(undefined), setEditing(true))}>
          Change
        </button>
        <ConfirmButton
          label="New webhook secret"
          question="Make a new secret? The forge's webhook fails until it has the new one."
          yes="Make a new secret"
          busy={busy}
          onConfirm={regenerate}
        />
        <ConfirmButton
          label="Disconnect"
          question={`Disconnect ${i.repository}? Its webhook URL stops working; its jobs stay.`}
          yes="Disconnect"
          busy={busy}
          onConfirm={remove}
        />
      </div>
      <ErrorText error={error} />
    </article>
  );
}

export default function IntegrationsTab({ project }: { project: string }) {
  const ins = useQuery(integrationsQuery(project));
  const secretNames = useQuery(secretsQuery(project)).data?.items.map((s) => s.name);
  const r = { error: ins.error, reload: ins.reload, data: ins.data && { items: ins.data.items, secretNames: secretNames ?? [] } };
  const [creating, setCreating] = useState(false);
  const [once, setOnce] = useState<Integration & { secret: string }>();
  const connectBtn = useRef<HTMLButtonElement>(null);

  return (
    <section aria-labelledby="integrations-h">
      <div className="forge-head">
        <h2 id="integrations-h">Integrations</h2>
        {!creating ? (
          <button ref={connectBtn} type="button" onClick={() => (setOnce(undefined), setCreating(true))}>
            Connect a repository
          </button>
        ) : null}
      </div>
      <p className="muted">
        A push, tag or pull/merge request of a connected repository submits the jobs below on entity commit/&lt;sha&gt;, and Aura reports the
        commit&apos;s status back to the forge.
      </p>
      {once ? (
        <ShownOnce
          i={once}
          onClose={() => {
            setOnce(undefined);
            setTimeout(() => connectBtn.current?.focus());
          }}
        />
      ) : null}
      {creating ? (
        <article className="forge-card" aria-labelledby="connect-h">
          <h3 id="connect-h">Connect a repository</h3>
          <IntegrationForm
            project={project}
            secretNames={r.data?.secretNames ?? []}
            onCancel={() => {
              setCreating(false);
              setTimeout(() => connectBtn.current?.focus());
            }}
            onDone={(i) => {
              setCreating(false);
              if (i.secret) setOnce({ ...i, secret: i.secret });
              r.reload();
            }}
          />
        </article>
      ) : null}
      <ErrorText error={r.error} />
      {!r.data && !r.error ? <Loading /> : null}
      {r.data && r.data.items.length === 0 && !creating ? <p className="muted">No repository is connected yet.</p> : null}
      {r.data?.items.map((i) => (
        <IntegrationCard key={i.id} project={project} i={i} secretNames={r.data?.secretNames ?? []} onChanged={r.reload} onSecret={setOnce} />
      ))}
    </section>
  );
}
