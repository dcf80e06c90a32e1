import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { collectionKeysQuery, entityKeysQuery, valuesPage, type ValuesPage } from '../api/entities';
import { useLive } from '../api/live';
import { useQuery } from '../api/query';
import { topics } from '../api/topics';
import { ErrorText, Loading, MoreOnScroll, Page, RelTime, Status } from '../components/common';

type Item = ValuesPage['items'][number];
type PageFunc = (cursor: string | undefined, signal: AbortSignal) => Promise<{ items: Item[]; next?: string; error?: string }>;

// usePaged loads pages newest first as the user scrolls; a live event reloads the
// first page and merges it in front, so rows never jump under the reader. Its
// requests end with the page (or when deps change).
function usePaged(load: PageFunc, deps: unknown[], topics: string[]) {
  const [items, setItems] = useState<Item[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const loadRef = useRef(load);
  loadRef.current = load;
  const gen = useRef(0);
  const ctl = useRef(new AbortController());

  useEffect(() => {
    const my = ++gen.current;
    const c = new AbortController();
    ctl.current = c;
    setItems([]);
    setDone(false);
    setError(undefined);
    setBusy(true);
    void loadRef.current(undefined, c.signal).then((r) => {
      if (my !== gen.current) return;
      setBusy(false);
      if (r.error) setError(r.error);
      setItems(r.items);
      setNext(r.next);
      setDone(!r.next);
    }, () => {});
    return () => c.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  const more = useCallback(() => {
    if (busy || done) return;
    const my = gen.current;
    setBusy(true);
    void loadRef.current(next, ctl.current.signal).then((r) => {
      if (my !== gen.current) return;
      setBusy(false);
      if (r.error) {
        setError(r.error);
        return;
      }
      setItems((old) => [...old, ...r.items.filter((i) => !old.some((o) => o.value === i.value))]);
      setNext(r.next);
      setDone(!r.next);
    }, () => {});
  }, [busy, done, next]);

  useLive(topics, () => {
    const my = gen.current;
    void loadRef.current(undefined, ctl.current.signal).then((r) => {
      if (my !== gen.current || r.error) return;
      setItems((old) => {
        const fresh = new Map(r.items.map((i) => [i.value, i]));
        const updated = old.map((o) => fresh.get(o.value) ?? o);
        const added = r.items.filter((i) => !old.some((o) => o.value === i.value));
        return [...added, ...updated];
      });
    }, () => {});
  });
  return { items, more, busy, done, error };
}

export function KeyPage() {
  const { project = '', key = '' } = useParams();
  const ek = useQuery(entityKeysQuery(project));
  const ck = useQuery(collectionKeysQuery(project));
  // A key is a collection key when only collections have it.
  const kind =
    ek.data && (ck.data || ck.error !== undefined)
      ? (ck.data?.items ?? []).some((k) => k.key === key) && !ek.data.items.some((k) => k.key === key)
        ? ('collection' as const)
        : ('entity' as const)
      : undefined;
  const isCollection = kind === 'collection';
  const paged = usePaged(
    async (cursor, signal) => {
      if (!kind) return { items: [] };
      const res = await valuesPage(project, key, isCollection, cursor, signal);
      if (!res.data) return { items: [], error: res.error ?? 'request failed' };
      return res.data.nextCursor ? { items: res.data.items, next: res.data.nextCursor } : { items: res.data.items };
    },
    [project, key, kind],
    [topics.project(project)],
  );
  const base = `/p/${encodeURIComponent(project)}`;
  return (
    <Page
      doc={`${key} · ${project}`}
      title={
        <>
          <Link to={base}>{project}</Link> / {key}
        </>
      }
    >
      <ErrorText error={ek.error ?? paged.error} />
      {!kind && !ek.error ? <Loading /> : null}
      {kind ? (
        <table className="list">
          <thead>
            <tr>
              <th>{isCollection ? 'Collection' : 'Entity'}</th>
              <th>{isCollection ? 'Entities' : 'Status'}</th>
              <th className="hide-narrow">Created</th>
            </tr>
          </thead>
          <tbody>
            {paged.items.map((i) => (
              <tr key={i.value}>
                <td>
                  <Link className="mono" to={`${base}/${encodeURIComponent(key)}/${encodeURIComponent(i.value)}`}>
                    {i.value}
                  </Link>
                </td>
                <td>
                  {'status' in i ? (
                    <>
                      <Status status={i.status} /> <span className="muted">{i.summary}</span>
                    </>
                  ) : (
                    i.entityCount
                  )}
                </td>
                <td className="hide-narrow">
                  <RelTime at={i.createdAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {kind && !paged.done ? <MoreOnScroll load={paged.more} busy={paged.busy} /> : null}
      {kind && paged.done && paged.items.length === 0 ? <p className="muted">Nothing here yet.</p> : null}
    </Page>
  );
}
