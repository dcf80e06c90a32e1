import { useState } from 'react';
import { Link } from 'react-router';
import type { Project } from '../api/client';
import { createProject, createProjectToken } from '../api/projects';
import { Copy, ErrorText, Page } from '../components/common';

export function NewProjectPage() {
  const [slug, setSlug] = useState('');
  const [name, setName] = useState('');
  const [priv, setPriv] = useState(false);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [made, setMade] = useState<{ project: Project; token: string } | null>(null);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const p = await createProject({ slug, name: name || slug, private: priv });
    if (!p.data) {
      setBusy(false);
      setError(p.error);
      return;
    }
    const t = await createProjectToken(p.data.slug, 'default');
    setBusy(false);
    if (!t.data) {
      setError(`The project was created, but its token was not: ${t.error}`);
      return;
    }
    setMade({ project: p.data, token: t.data.token });
  };

  if (made) {
    return (
      <Page title="Project created">
        <p>
          <Link to={`/p/${encodeURIComponent(made.project.slug)}`}>{made.project.name}</Link> is ready. Its token submits jobs; it is shown
          this one time only.
        </p>
        <p className="secret">
          <code data-testid="token">{made.token}</code> <Copy text={made.token} />
        </p>
      </Page>
    );
  }
  return (
    <Page title="New project">
      <form className="form" onSubmit={(e) => void submit(e)}>
        <label>
          Slug
          <input required pattern="[0-9A-Za-z_:.\-]{1,260}" value={slug} onChange={(e) => setSlug(e.target.value)} name="slug" />
        </label>
        <label>
          Name
          <input value={name} maxLength={200} onChange={(e) => setName(e.target.value)} name="name" />
        </label>
        <label className="check">
          <input type="checkbox" checked={priv} onChange={(e) => setPriv(e.target.checked)} /> Private (readable only with a token)
        </label>
        <ErrorText error={error} />
        <button type="submit" disabled={busy}>
          Create project
        </button>
      </form>
    </Page>
  );
}
