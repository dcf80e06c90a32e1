// Badge shows an entity's or a collection's status badge with ready-to-copy
// Markdown that links it to its page, for a README or a merge request.
import { useEffect, useId, useState } from 'react';
import { authHeaders } from '../api/client';
import { badgeLinks } from './badgeLinks';
import { Copy } from './common';
import './forge.css';

// useBadgeImage fetches the SVG with the user's token (a private project's badge
// needs one, which an <img> cannot send) and returns it as a data: URL.
function useBadgeImage(url: string, version: string): { src?: string; error?: string } {
  const [state, setState] = useState<{ src?: string; error?: string }>({});
  useEffect(() => {
    const ctl = new AbortController();
    fetch(url, { headers: authHeaders(), signal: ctl.signal, cache: 'no-cache' })
      .then(async (r) => {
        if (!r.ok) throw new Error(r.status === 404 ? 'no badge yet: nothing to show' : `the badge answered ${r.status}`);
        const blob = await r.blob();
        return new Promise<string>((ok, fail) => {
          const fr = new FileReader();
          fr.onload = () => ok(String(fr.result));
          fr.onerror = () => fail(new Error('the badge could not be read'));
          fr.readAsDataURL(new Blob([blob], { type: 'image/svg+xml' }));
        });
      })
      .then(
        (src) => setState({ src }),
        (e: unknown) => {
          if (!ctl.signal.aborted) setState({ error: e instanceof Error ? e.message : String(e) });
        },
      );
    return () => ctl.abort();
  }, [url, version]);
  return state;
}

function CopyField({ label, copy, value, testId }: { label: string; copy: string; value: string; testId: string }) {
  const id = useId();
  return (
    <div className="copy-field">
      <label htmlFor={id}>{label}</label>
      <span className="copy-row">
        <input id={id} readOnly value={value} data-testid={testId} spellCheck={false} onFocus={(e) => e.currentTarget.select()} />
        <Copy text={value} label={copy} />
      </span>
    </div>
  );
}

// BadgeBox: version changes whenever the status may have (the badge is fetched again).
export function BadgeBox({
  project,
  entityKey,
  val,
  collection,
  version,
  isPrivate,
}: {
  project: string;
  entityKey: string;
  val: string;
  collection: boolean;
  version: string;
  isPrivate?: boolean;
}) {
  const links = badgeLinks(window.location.origin, project, entityKey, val, collection);
  const img = useBadgeImage(links.badge, version);
  const headingId = useId();
  return (
    <section className="badge-box" aria-labelledby={headingId}>
      <h2 id={headingId}>Badge</h2>
      <p className="muted">
        {collection
          ? `The status of the newest entity in ${entityKey}/${val}, linked to this page: paste it into a README.`
          : 'This status, linked to this page: paste it into a merge request or a README.'}
        {isPrivate ? ' The project is private: the badge shows only to those who may read it.' : ''}
      </p>
      <p className="badge-img">
        {img.src ? <img src={img.src} alt={`aura badge of ${entityKey}/${val}`} data-testid="badge-img" /> : null}
        {img.error ? <span className="muted">{img.error}</span> : null}
      </p>
      <CopyField label="Markdown" copy="Copy Markdown" value={links.markdown} testId="badge-markdown" />
      <CopyField label="Badge URL" copy="Copy badge URL" value={links.badge} testId="badge-url" />
    </section>
  );
}
