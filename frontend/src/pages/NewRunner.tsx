import { useState } from 'react';
import type { Schemas } from '../api/client';
import { createRunner } from '../api/runners';
import { Copy, ErrorText, Page } from '../components/common';

// shellQuote quotes a word for a POSIX shell.
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function NewRunnerPage() {
  const [name, setName] = useState('');
  const [tags, setTags] = useState('native,linux');
  const [projects, setProjects] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [made, setMade] = useState<Schemas['RunnerCreated'] | null>(null);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const words = (s: string) => s.split(/\s+/).filter(Boolean);
    const only = words(projects);
    const res = await createRunner({ name, tags: words(tags), ...(only.length > 0 ? { projects: only } : {}) });
    setBusy(false);
    if (!res.data) setError(res.error);
    else setMade(res.data);
  };

  if (made) {
    const cmd = ['aura-runner', '--server', location.origin, '--token', made.token, ...made.tags.flatMap((t) => ['--tag', t])]
      .map(shellQuote)
      .join(' ');
    return (
      <Page title="Runner created">
        <p>The token of {made.name} is shown this one time only.</p>
        <p>
          It claims jobs tagged {made.tags.join(', ')}
          {made.projects ? ` of ${made.projects.join(', ')} only` : ' of every project'}.
        </p>
        <p className="secret">
          <code data-testid="token">{made.token}</code> <Copy text={made.token} />
        </p>
        <p>Start it on any machine that reaches this server:</p>
        <pre className="cmd" data-testid="command">
          {cmd}
        </pre>
        <Copy text={cmd} label="Copy command" />
      </Page>
    );
  }
  return (
    <Page title="New runner">
      <form className="form" onSubmit={(e) => void submit(e)}>
        <label>
          Name
          <input required pattern="[0-9A-Za-z_:.\-]{1,260}" value={name} onChange={(e) => setName(e.target.value)} name="name" />
        </label>
        <label>
          Tags, in priority order, separated by spaces
          <input required value={tags} onChange={(e) => setTags(e.target.value)} name="tags" />
        </label>
        <label>
          Projects it serves, separated by spaces (empty: every project)
          <input value={projects} onChange={(e) => setProjects(e.target.value)} name="projects" />
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>
          Create runner
        </button>
      </form>
    </Page>
  );
}
