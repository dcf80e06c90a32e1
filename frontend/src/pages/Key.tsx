import { useCallback, useEffect, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { api, errorText, type EntitySummary, type Schemas } from '../api/client';
import { useLive, useResource } from '../api/live';
import { ErrorText, Loading, MoreOnScroll, Page, RelTime, Status } from '../components/common';

type CollectionSummary = Schemas['CollectionSummary'];
type Item = EntitySummary | CollectionSummary;
type PageFunc = (cursor: string | undefined) => Promise<{ items: Item[]; next?: string; error?: string }>;

// usePaged loads pages newest first as the user scrolls; a live event reloads the
// first page and merges it in front, so rows never jump under the reader.
function usePaged(load: PageFunc, deps: unknown[], topics: string[]) {
  const [items, setItems] = useState<Item[]>([]);
  const [next, setNext] = useState<string | undefined>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const loadRef = useRef(load);
  loadRef.current = load;
  const gen = useRef(0);

  useEffect(() => {
    const my = ++gen.current;
    setItems([]);
    setDone(false);
    setError(undefined);
    setBusy(true);
    void loadRef.current(undefined).then((r) => {
      if (my !== gen.current) return;
      setBusy(false);
      if (r.error) setError(r.error);
      setItems(r.items);
      setNext(r.next);
      setDone(!r.next);
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);

  const more = useCallback(() => {
    if (busy || done) return;
    const my = gen.current;
    setBusy(true);
    void loadRef.current(next).then((r) => {
      if (my !== gen.current) return;
      setBusy(false);
      if (r.error) {
        setError(r.error);
        return;
      }
      setItems((old) => [...old, ...r.items.filter((i) => !old.some((o) => o.value === i.value))]);
      setNext(r.next);
      setDone(!r.next);
    });
  }, [busy, done, next]);

  useLive(topics, () => {
    const my = gen.current;
    void loadRef.current(undefined).then((r) => {
      if (my !== gen.current || r.error) return;
      setItems((old) => {
        const fresh = new Map(r.items.map((i) => [i.value, i]));
        const updated = old.map((o) => fresh.get(o.value) ?? o);
        const added = r.items.filter((i) => !old.some((o) => o.value === i.value));
        return [...added, ...updated];
      });
    });
  });
  return { items, more, busy, done, error };
}

export function KeyPage() {
  const { project = '', key = '' } = useParams();
  const kind = useResource(
    async (signal) => {
      const path = { project };
      const [ek, ck] = await Promise.all([
        api.GET('/api/v1/projects/{project}/entities', { params: { path }, signal }),
        api.GET('/api/v1/projects/{project}/collections', { params: { path }, signal }),
      ]);
      if (!ek.data) return { error: errorText(ek.error, ek.response.status), status: ek.response.status };
      const isCollection = (ck.data?.items ?? []).some((k) => k.key === key) && !ek.data.items.some((k) => k.key === key);
      return { data: isCollection ? ('collection' as const) : ('entity' as const) };
    },
    [project, key],
  );
  const isCollection = kind.data === 'collection';
  const paged = usePaged(
    async (cursor) => {
      if (!kind.data) return { items: [] };
      const params = { path: { project, key }, query: { limit: 50, ...(cursor ? { cursor } : {}) } };
      const res = isCollection
        ? await api.GET('/api/v1/projects/{project}/collections/{key}', { params })
        : await api.GET('/api/v1/projects/{project}/entities/{key}', { params });
      if (!res.data) return { items: [], error: errorText(res.error, res.response.status) };
      return res.data.nextCursor ? { items: res.data.items, next: res.data.nextCursor } : { items: res.data.items };
    },
    [project, key, kind.data],
    [`project:${project}`],
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
      <ErrorText error={kind.error ?? paged.error} />
      {!kind.data && !kind.error ? <Loading /> : null}
      {kind.data ? (
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
      {kind.data && !paged.done ? <MoreOnScroll load={paged.more} busy={paged.busy} /> : null}
      {kind.data && paged.done && paged.items.length === 0 ? <p className="muted">Nothing here yet.</p> : null}
    </Page>
  );
}
