// Artifacts lists the files a job uploaded as a tree (a directory artifact's
// folders fold), each with its size, checksum and download, and opens HTML
// reports, images and text in the page. Nothing a file holds runs here: HTML
// goes into a frame sandboxed without scripts (from a signed address on the
// server's artifact origin when it has one, else from its sandboxed ?inline=1
// address, or for a private project as srcdoc under the app's own CSP),
// an image into <img> (an SVG there runs no script), text into <pre> as text.
import { useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { artifactBlob, artifactLink, artifactText, artifactsQuery, artifactURL, type Artifact } from '../api/artifacts';
import { token } from '../api/client';
import { useQuery } from '../api/query';
import { baseName, buildTree, expired, formatSize, inlineKind, shortSum, type Folder } from '../lib/artifactTree';
import { ErrorText, Loading } from './common';
import './artifacts.css';

// The most text the viewer fetches (the file's start, by Range).
const TEXT_MAX = 1 << 20;

interface Ctx {
  job: number;
  // linkable: the bytes may be reached without the user's token (a public
  // project), so a plain link and the server's inline address work.
  linkable: boolean;
  view: (f: Artifact) => void;
}

const expiredText = (f: Artifact) => `expired on ${new Date(f.expiresAt ?? '').toLocaleString()}`;

async function download(job: number, f: Artifact) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(await artifactBlob(job, f.path));
  a.download = baseName(f.path);
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function FileRow({ f, ctx }: { f: Artifact; ctx: Ctx }) {
  const [error, setError] = useState<string>();
  const [copied, setCopied] = useState(false);
  const name = baseName(f.path);
  const gone = expired(f);
  const copy = () => {
    void navigator.clipboard?.writeText(f.sha256).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  };
  return (
    <li className="artifact" data-path={f.path}>
      <span className="a-name mono">{name}</span> <span className="a-size">{formatSize(f.size)}</span>{' '}
      <code className="a-sum" title={`SHA-256 ${f.sha256}`}>
        {shortSum(f.sha256)}
      </code>
      <button type="button" className="link" aria-label={`Copy the SHA-256 of ${f.path}`} onClick={copy}>
        {copied ? 'copied' : 'copy'}
      </button>
      {gone ? (
        <span className="muted a-expired">{expiredText(f)}</span>
      ) : (
        <span className="a-acts">
          {inlineKind(f.contentType, f.path) ? (
            <button type="button" className="link" aria-label={`View ${f.path}`} onClick={() => ctx.view(f)}>
              view
            </button>
          ) : null}
          {ctx.linkable ? (
            <a href={artifactURL(ctx.job, f.path)} download={name} aria-label={`Download ${f.path}`}>
              download
            </a>
          ) : (
            <button
              type="button"
              className="link"
              aria-label={`Download ${f.path}`}
              onClick={() => void download(ctx.job, f).catch((e: unknown) => setError(String((e as Error).message ?? e)))}
            >
              download
            </button>
          )}
        </span>
      )}
      <ErrorText error={error} />
    </li>
  );
}

function FolderView({ d, ctx }: { d: Folder<Artifact>; ctx: Ctx }) {
  return (
    <ul className="a-tree">
      {d.folders.map((s) => (
        <li key={s.path} className="a-folder" data-path={s.path}>
          <details>
            <summary>
              <span className="mono">{s.name}/</span>{' '}
              <span className="muted">
                {s.count} {s.count === 1 ? 'file' : 'files'}, {formatSize(s.size)}
              </span>
            </summary>
            <FolderView d={s} ctx={ctx} />
          </details>
        </li>
      ))}
      {d.files.map((f) => (
        <FileRow key={f.path} f={f} ctx={ctx} />
      ))}
    </ul>
  );
}

// Viewer shows one file in a modal dialog.
function Viewer({ job, f, linkable, close }: { job: number; f: Artifact; linkable: boolean; close: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const kind = inlineKind(f.contentType, f.path);
  // The page's own copy: text, or an image as a data: URL (the app's CSP allows
  // data: images, not blob:).
  // frame: the artifact origin's signed address of an HTML file.
  const [body, setBody] = useState<{ text?: string; src?: string; frame?: string; error?: string; cut?: boolean }>();
  useEffect(() => {
    ref.current?.showModal();
  }, []);
  useEffect(() => {
    const ctl = new AbortController();
    const load = async () => {
      if (kind === 'image') {
        if (linkable) return { src: artifactURL(job, f.path, true) };
        const blob = await artifactBlob(job, f.path, ctl.signal);
        const src = await new Promise<string>((ok, fail) => {
          const fr = new FileReader();
          fr.onload = () => ok(String(fr.result));
          fr.onerror = () => fail(new Error('the image could not be read'));
          fr.readAsDataURL(blob);
        });
        return { src };
      }
      if (kind === 'html') {
        const frame = await artifactLink(job, f.path, ctl.signal);
        if (frame) return { frame };
        if (linkable) return {};
      }
      const cut = kind === 'text' && f.size > TEXT_MAX;
      let text = await artifactText(job, f.path, ctl.signal, cut ? TEXT_MAX : undefined);
      if (kind === 'text' && /json/.test(f.contentType) && !cut) {
        try {
          text = JSON.stringify(JSON.parse(text), null, 2);
        } catch {
          // Not JSON after all: shown as it is.
        }
      }
      return { text, cut };
    };
    load().then(setBody, (e: unknown) => {
      if (!ctl.signal.aborted) setBody({ error: String((e as Error).message ?? e) });
    });
    return () => ctl.abort();
  }, [job, f, kind, linkable]);

  let content: React.ReactNode = <Loading />;
  if (body?.error) content = <ErrorText error={body.error} />;
  else if (kind === 'html' && body?.frame)
    content = <iframe className="a-frame" title={f.path} sandbox="" referrerPolicy="no-referrer" src={body.frame} />;
  else if (kind === 'html' && linkable && body)
    content = <iframe className="a-frame" title={f.path} sandbox="" referrerPolicy="no-referrer" src={artifactURL(job, f.path, true)} />;
  else if (kind === 'html' && body?.text !== undefined)
    content = <iframe className="a-frame" title={f.path} sandbox="" referrerPolicy="no-referrer" srcDoc={body.text} />;
  else if (kind === 'image' && body?.src) content = <img className="a-img" src={body.src} alt={f.path} />;
  else if (body?.text !== undefined)
    content = (
      <>
        {body.cut ? <p className="muted">The first {formatSize(TEXT_MAX)} of {formatSize(f.size)}.</p> : null}
        <pre className="a-text">{body.text}</pre>
      </>
    );
  return (
    <dialog ref={ref} className="a-viewer" aria-label={f.path} onClose={close}>
      <header>
        <span className="mono">{f.path}</span> <span className="muted">{formatSize(f.size)}</span>
        <button type="button" onClick={() => ref.current?.close()}>
          Close
        </button>
      </header>
      {content}
    </dialog>
  );
}

// JobArtifacts is one job's artifacts; empty: a line that says so, or nothing
// when quietWhenNone (the entity page lists only jobs that have some).
export function JobArtifacts({ job, isPrivate, name, quietWhenNone }: { job: number; isPrivate: boolean | undefined; name?: string; quietWhenNone?: boolean }) {
  const r = useQuery(artifactsQuery(job));
  const [shown, setShown] = useState<Artifact>();
  const items = r.data?.items ?? [];
  if (quietWhenNone && items.length === 0) return null;
  // Until the project is known, the bytes come with the token.
  const linkable = isPrivate === false || !token();
  const ctx: Ctx = { job, linkable, view: setShown };
  const tree = buildTree(items);
  return (
    <section className="artifacts" aria-label={name ? `Artifacts of ${name}` : 'Artifacts'} data-job={job}>
      {name ? (
        <h3>
          <Link to={`/j/${job}`}>{name}</Link> <span className="muted">#{job}</span>{' '}
          <span className="muted">
            {tree.count} {tree.count === 1 ? 'file' : 'files'}, {formatSize(tree.size)}
          </span>
        </h3>
      ) : (
        <h2>
          Artifacts{' '}
          {items.length ? (
            <span className="muted">
              {tree.count} {tree.count === 1 ? 'file' : 'files'}, {formatSize(tree.size)}
            </span>
          ) : null}
        </h2>
      )}
      <ErrorText error={r.error} />
      {r.loading && !r.data ? <Loading /> : null}
      {r.data && items.length === 0 ? <p className="muted">None.</p> : null}
      {items.length ? <FolderView d={tree} ctx={ctx} /> : null}
      {shown ? <Viewer job={job} f={shown} linkable={linkable} close={() => setShown(undefined)} /> : null}
    </section>
  );
}

// EntityArtifacts lists the artifacts of every job of an entity, job by job.
export function EntityArtifacts({ jobs, isPrivate }: { jobs: Array<{ id: number; name: string }>; isPrivate: boolean | undefined }) {
  return (
    <section className="entity-artifacts" aria-label="Artifacts">
      <h2>Artifacts</h2>
      <div className="a-jobs">
        {jobs.map((j) => (
          <JobArtifacts key={j.id} job={j.id} name={j.name} isPrivate={isPrivate} quietWhenNone />
        ))}
      </div>
    </section>
  );
}
