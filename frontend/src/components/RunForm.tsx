// RunForm starts jobs by hand: an integration's on a branch or a commit, or a
// schedule's now, with extra environment values. It links to the entity the
// jobs went to.
import { useId, useState } from 'react';
import { Link } from 'react-router';
import type { Schemas } from '../api/client';
import type { Result } from '../api/query';
import { ErrorText } from './common';
import { parseEnv } from './JobTemplates';

type RunResult = Schemas['RunResult'];

export function RunForm({
  project,
  withRef,
  label,
  run,
  onDone,
}: {
  project: string;
  withRef: boolean; // ask for a branch or a commit
  label: string;
  run: (v: { branch: string; commit: string; env: Record<string, string> }) => Promise<Result<RunResult>>;
  onDone?: () => void;
}) {
  const [branch, setBranch] = useState('');
  const [commit, setCommit] = useState('');
  const [env, setEnv] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [field, setField] = useState<string>();
  const [done, setDone] = useState<RunResult>();
  const errId = useId();

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setField(undefined);
    setDone(undefined);
    const p = parseEnv(env);
    if (!p.env) {
      setError(`The ${p.error}.`);
      setField('env');
      return;
    }
    setBusy(true);
    const r = await run({ branch: branch.trim(), commit: commit.trim(), env: p.env });
    setBusy(false);
    if (!r.data) {
      setError(r.error);
      setField(r.field);
      return;
    }
    setDone(r.data);
    onDone?.();
  };

  const [key = '', ...rest] = done?.entity.split('/') ?? [];
  return (
    <form className="form forge-form run-form" onSubmit={(e) => void submit(e)} aria-label={label}>
      {withRef ? (
        <div className="row">
          <label>
            Branch
            <input
              name="branch"
              spellCheck={false}
              placeholder="main"
              value={branch}
              onChange={(e) => setBranch(e.target.value)}
              aria-invalid={field === 'branch' || undefined}
              aria-describedby={error ? errId : undefined}
            />
          </label>
          <label>
            Commit
            <input
              name="commit"
              spellCheck={false}
              className="mono"
              placeholder="40 or 64 hex digits"
              value={commit}
              onChange={(e) => setCommit(e.target.value)}
              aria-invalid={field === 'commit' || undefined}
              aria-describedby={error ? errId : undefined}
            />
          </label>
        </div>
      ) : null}
      <label>
        Extra environment
        <textarea
          name="env"
          rows={2}
          spellCheck={false}
          placeholder="KEY=value, one a line"
          value={env}
          onChange={(e) => setEnv(e.target.value)}
          aria-invalid={field?.startsWith('env') || undefined}
          aria-describedby={error ? errId : undefined}
        />
      </label>
      {withRef ? <span className="hint">A branch alone runs on what the job checks out for it; give the commit to build one exactly.</span> : null}
      <div id={errId}>
        <ErrorText error={error} />
      </div>
      {done ? (
        <p role="status" className="forge-result ok">
          Submitted {done.jobs.length} job(s) to{' '}
          <Link to={`/p/${encodeURIComponent(project)}/${encodeURIComponent(key)}/${encodeURIComponent(rest.join('/'))}`}>{done.entity}</Link>.
        </p>
      ) : null}
      <div className="form-end">
        <button type="submit" disabled={busy || (withRef && branch.trim() === '' && commit.trim() === '')}>
          {busy ? 'Starting…' : 'Run'}
        </button>
      </div>
    </form>
  );
}

// runBody is an integration run's body: only what was given.
export function runBody(v: { branch: string; commit: string; env: Record<string, string> }): Schemas['IntegrationRun'] {
  return { ...(v.branch ? { branch: v.branch } : {}), ...(v.commit ? { commit: v.commit } : {}), env: v.env };
}
