// The Caches tab of a project: what its jobs saved with `aura-runner cache
// save`, most recently used first, the total against the project's bound, and
// (for a maintainer) a delete per cache.
import { useState } from 'react';
import { cachesQuery, deleteCache } from '../api/caches';
import { useQuery } from '../api/query';
import { ConfirmButton } from '../components/Confirm';
import { ErrorText, Loading, RelTime } from '../components/common';
import { formatSize } from '../lib/artifactTree';
import '../components/forge.css';

export default function CachesTab({ project, manage }: { project: string; manage: boolean }) {
  const r = useQuery(cachesQuery(project));
  const caches = r.data?.items;
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();

  const remove = async (key: string) => {
    setError(undefined);
    setDone(undefined);
    const res = await deleteCache(project, key);
    if (res.error !== undefined) setError(res.error);
    else setDone(`Cache ${key} deleted.`);
  };

  return (
    <section aria-labelledby="caches-h">
      <h2 id="caches-h">Caches</h2>
      <p className="muted">
        Jobs keep these with <code>aura-runner cache save KEY PATH…</code> and get them back with <code>aura-runner cache restore KEY PATH…</code>.
        When the project holds more than its bound, the least recently used go first.
      </p>
      <ErrorText error={r.error} />
      {!caches && !r.error ? <Loading /> : null}
      {r.data ? (
        <p data-testid="caches-total">
          {formatSize(r.data.totalSize)} of {formatSize(r.data.maxSize)} in {caches?.length ?? 0} {caches?.length === 1 ? 'cache' : 'caches'}
        </p>
      ) : null}
      {caches && caches.length === 0 ? <p className="muted">No caches yet.</p> : null}
      {caches && caches.length > 0 ? (
        <table className="list" data-testid="caches">
          <thead>
            <tr>
              <th>Key</th>
              <th>Size</th>
              <th className="hide-narrow">Saved</th>
              <th>Last used</th>
              {manage ? (
                <th>
                  <span className="skip">Actions</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {caches.map((c) => (
              <tr key={c.key} data-key={c.key}>
                <td className="mono">{c.key}</td>
                <td>{formatSize(c.size)}</td>
                <td className="hide-narrow">
                  <RelTime at={c.createdAt} />
                </td>
                <td>
                  <RelTime at={c.lastUsed} />
                </td>
                {manage ? (
                  <td>
                    <ConfirmButton label={`Delete ${c.key}`} question={`Delete cache ${c.key}?`} yes="Delete" onConfirm={() => remove(c.key)} />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <ErrorText error={error} />
      {done ? (
        <p role="status" className="forge-result ok">
          {done}
        </p>
      ) : null}
    </section>
  );
}
