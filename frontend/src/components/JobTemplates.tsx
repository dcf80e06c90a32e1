// JobTemplates edits a list of job templates ({name, cmd, tag, env, secrets}),
// the jobs a schedule submits; parseEnv reads KEY=value lines.
import type { Schemas } from '../api/client';

export type JobTemplate = Schemas['JobTemplate'];

export interface JobRow {
  key: number;
  name: string;
  tag: string;
  cmd: string;
  env: string;
  secrets: string;
}

let rowKeys = 0;
export const emptyJob = (name = 'build'): JobRow => ({ key: ++rowKeys, name, tag: '', cmd: '', env: '', secrets: '' });

export function toRow(t: JobTemplate): JobRow {
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

// parseEnv reads KEY=value lines, or says which line is not one.
export function parseEnv(text: string): { env?: Record<string, string>; error?: string } {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq <= 0) return { error: `environment line “${line}” is not KEY=value` };
    env[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return { env };
}

// toTemplates turns the rows into the API's templates, or says what is wrong.
export function toTemplates(rows: JobRow[]): { jobs?: JobTemplate[]; error?: string } {
  const jobs: JobTemplate[] = [];
  for (const [i, r] of rows.entries()) {
    const p = parseEnv(r.env);
    if (!p.env) return { error: `Job ${i + 1}: ${p.error}.` };
    const secrets = r.secrets.split(/[\s,]+/).filter(Boolean);
    jobs.push({ name: r.name.trim(), tag: r.tag.trim(), cmd: r.cmd, env: p.env, secrets });
  }
  return { jobs };
}

export function JobTemplates({ jobs, onChange }: { jobs: JobRow[]; onChange: (jobs: JobRow[]) => void }) {
  const setJob = (key: number, p: Partial<JobRow>) => onChange(jobs.map((j) => (j.key === key ? { ...j, ...p } : j)));
  return (
    <>
      {jobs.map((j, i) => (
        <fieldset key={j.key} data-testid={`job-${i}`}>
          <legend>Job {i + 1}</legend>
          <div className="row">
            <label>
              Name
              <input
                name={`job-${i}-name`}
                required
                pattern="[0-9A-Za-z_:.\-]{1,260}"
                title="Letters, digits and _ : . -"
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
            <textarea name={`job-${i}-cmd`} required rows={3} spellCheck={false} value={j.cmd} onChange={(e) => setJob(j.key, { cmd: e.target.value })} />
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
            <span className="hint">Names of project secrets, separated by spaces.</span>
          </label>
          <div>
            <button
              type="button"
              disabled={jobs.length === 1}
              aria-label={`Remove job ${i + 1}`}
              onClick={() => onChange(jobs.filter((x) => x.key !== j.key))}
            >
              Remove job
            </button>
          </div>
        </fieldset>
      ))}
      <div>
        <button type="button" disabled={jobs.length >= 20} onClick={() => onChange([...jobs, emptyJob('')])}>
          Add a job
        </button>
      </div>
    </>
  );
}
