// The Schedules tab of a project: its schedules with their cron expression, time
// zone, next and last run (linking to the run's entity); create, change, Run now
// and delete, shown to those GET /api/v1/me says may.
import { useId, useState } from 'react';
import { Link } from 'react-router';
import { useMe } from '../api/me';
import { useQuery } from '../api/query';
import { createSchedule, deleteSchedule, runSchedule, schedulesQuery, updateSchedule, type Schedule } from '../api/schedules';
import { ConfirmButton } from '../components/Confirm';
import { emptyJob, JobTemplates, toRow, toTemplates, type JobRow } from '../components/JobTemplates';
import { RunForm } from '../components/RunForm';
import { ErrorText, Loading, RelTime, Status } from '../components/common';
import '../components/forge.css';

interface FormValue {
  name: string;
  cron: string;
  timezone: string;
  entityKey: string;
  jobs: JobRow[];
}

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const blank = (): FormValue => ({ name: 'nightly', cron: '0 2 * * *', timezone: browserZone(), entityKey: 'nightly', jobs: [emptyJob()] });

const fromSchedule = (s: Schedule): FormValue => ({ name: s.name, cron: s.cron, timezone: s.timezone, entityKey: s.entityKey, jobs: s.jobs.map(toRow) });

function entityLink(project: string, entity: string) {
  const slash = entity.indexOf('/');
  return `/p/${encodeURIComponent(project)}/${encodeURIComponent(entity.slice(0, slash))}/${encodeURIComponent(entity.slice(slash + 1))}`;
}

function ScheduleForm({ project, initial, id, onDone }: { project: string; initial: FormValue; id?: number; onDone: () => void }) {
  const [v, setV] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [field, setField] = useState<string>();
  const errId = useId();
  const set = (p: Partial<FormValue>) => setV((o) => ({ ...o, ...p }));

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    const t = toTemplates(v.jobs);
    if (!t.jobs) {
      setError(t.error);
      return;
    }
    setBusy(true);
    setError(undefined);
    setField(undefined);
    const body = { name: v.name.trim(), cron: v.cron.trim(), timezone: v.timezone.trim(), entityKey: v.entityKey.trim(), jobs: t.jobs };
    const r = id === undefined ? await createSchedule(project, body) : await updateSchedule(project, id, body);
    setBusy(false);
    if (!r.data) {
      setError(r.error);
      setField(r.field);
      return;
    }
    onDone();
  };

  const bad = (f: string) => field === f || undefined;
  return (
    <form className="form forge-form" onSubmit={(e) => void save(e)} aria-label={id === undefined ? 'New schedule' : `Change schedule ${initial.name}`}>
      <div className="row">
        <label>
          Name
          <input
            name="name"
            required
            pattern="[0-9A-Za-z_:.\-]{1,100}"
            spellCheck={false}
            value={v.name}
            onChange={(e) => set({ name: e.target.value })}
            aria-invalid={bad('name')}
            aria-describedby={error ? errId : undefined}
          />
        </label>
        <label>
          Entity key
          <input
            name="entityKey"
            required
            pattern="[0-9A-Za-z_:.\-]{1,100}"
            spellCheck={false}
            value={v.entityKey}
            onChange={(e) => set({ entityKey: e.target.value })}
            aria-invalid={bad('entityKey')}
            aria-describedby={error ? errId : undefined}
          />
          <span className="hint">Each run is the entity {v.entityKey || 'key'}/&lt;local date and time&gt;.</span>
        </label>
      </div>
      <div className="row">
        <label>
          Cron
          <input
            name="cron"
            required
            className="mono"
            spellCheck={false}
            value={v.cron}
            onChange={(e) => set({ cron: e.target.value })}
            aria-invalid={bad('cron')}
            aria-describedby={error ? errId : undefined}
          />
          <span className="hint">minute hour day month weekday, or @daily, @weekly, @hourly…</span>
        </label>
        <label>
          Time zone
          <input
            name="timezone"
            required
            spellCheck={false}
            value={v.timezone}
            onChange={(e) => set({ timezone: e.target.value })}
            aria-invalid={bad('timezone')}
            aria-describedby={error ? errId : undefined}
          />
          <span className="hint">An IANA name: Europe/Berlin, America/New_York, UTC.</span>
        </label>
      </div>
      <JobTemplates jobs={v.jobs} onChange={(jobs) => set({ jobs })} />
      <div id={errId}>
        <ErrorText error={error} />
      </div>
      <div className="form-end">
        <button type="button" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" disabled={busy}>
          {id === undefined ? 'Create schedule' : 'Save'}
        </button>
      </div>
    </form>
  );
}

function ScheduleCard({ project, s, manage, submit }: { project: string; s: Schedule; manage: boolean; submit: boolean }) {
  const [editing, setEditing] = useState(false);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string>();
  if (editing) return <ScheduleForm project={project} id={s.id} initial={fromSchedule(s)} onDone={() => setEditing(false)} />;
  const remove = async () => {
    const r = await deleteSchedule(project, s.id);
    if (r.error !== undefined) setError(r.error);
  };
  return (
    <article className="forge-card" data-testid={`schedule-${s.name}`} aria-label={`Schedule ${s.name}`}>
      <h3>{s.name}</h3>
      <dl className="forge-facts">
        <dt>When</dt>
        <dd>
          <code>{s.cron}</code> in {s.timezone}
        </dd>
        <dt>Next run</dt>
        <dd>
          <RelTime at={s.nextRunAt} />
        </dd>
        <dt>Last run</dt>
        <dd data-testid="last-run">
          {s.lastRunAt ? (
            <>
              {s.lastStatus ? (
                <>
                  <Status status={s.lastStatus} />{' '}
                </>
              ) : null}
              <RelTime at={s.lastRunAt} />
              {s.lastEntity ? (
                <>
                  {' '}
                  · <Link to={entityLink(project, s.lastEntity)}>{s.lastEntity}</Link>
                </>
              ) : null}
              {s.lastResult ? <span className="muted"> · {s.lastResult}</span> : null}
            </>
          ) : (
            <span className="muted">never</span>
          )}
        </dd>
        <dt>Jobs</dt>
        <dd>
          {s.jobs.map((j) => (
            <span key={j.name} className="mono">
              {j.name} <span className="muted">({j.tag})</span>{' '}
            </span>
          ))}
        </dd>
      </dl>
      {running ? (
        <RunForm project={project} withRef={false} label={`Run ${s.name} now`} run={({ env }) => runSchedule(project, s.id, env)} />
      ) : null}
      <div className="forge-actions">
        {submit ? (
          <button type="button" aria-expanded={running} onClick={() => setRunning((x) => !x)}>
            {running ? 'Close' : 'Run now…'}
          </button>
        ) : null}
        {manage ? (
          <>
            <button type="button" onClick={() => setEditing(true)}>
              Change
            </button>
            <ConfirmButton label="Delete" question={`Delete schedule ${s.name}? Its jobs stay.`} yes="Delete" onConfirm={remove} />
          </>
        ) : null}
      </div>
      <ErrorText error={error} />
    </article>
  );
}

export default function SchedulesTab({ project }: { project: string }) {
  const r = useQuery(schedulesQuery(project));
  const me = useMe();
  const p = me?.permissions.projects[project];
  const manage = !!me && (me.permissions.admin || !!p?.manage);
  const submit = !!me && (me.permissions.admin || !!p?.submit);
  const [creating, setCreating] = useState(false);
  const items = r.data?.items;
  return (
    <section aria-labelledby="schedules-h">
      <h2 id="schedules-h">Schedules</h2>
      <p className="muted">
        A schedule submits its jobs on a cron expression in a time zone, each run to the entity &lt;entity key&gt;/&lt;local date and time&gt;. A run
        missed while the server was down fires once when it is back.
      </p>
      <ErrorText error={r.error} />
      {!items && !r.error ? <Loading /> : null}
      {items && items.length === 0 ? <p className="muted">No schedules yet.</p> : null}
      {items?.map((s) => <ScheduleCard key={s.id} project={project} s={s} manage={manage} submit={submit} />)}
      {manage && !creating ? (
        <button type="button" onClick={() => setCreating(true)}>
          New schedule
        </button>
      ) : null}
      {creating ? <ScheduleForm project={project} initial={blank()} onDone={() => setCreating(false)} /> : null}
    </section>
  );
}
