import { Link } from 'react-router';
import type { Runner } from '../api/client';
import { useQuery } from '../api/query';
import { runnersQuery } from '../api/runners';
import { Duration, ErrorText, Loading, Page, RelTime } from '../components/common';
import { useMe } from '../api/me';

const ONLINE_MS = 90_000;

function online(r: Runner, now: number) {
  return !!r.lastCheckIn && now - new Date(r.lastCheckIn).getTime() < ONLINE_MS;
}

export function RunnersPage() {
  const me = useMe();
  const r = useQuery(runnersQuery());
  const runners = r.data?.items;
  const now = Date.now();
  // Every tag with the last time a runner that has it checked in.
  const tags = new Map<string, string | undefined>();
  for (const run of runners ?? []) {
    for (const t of run.tags) {
      const prev = tags.get(t);
      if (!prev || (run.lastCheckIn && run.lastCheckIn > prev)) tags.set(t, run.lastCheckIn);
    }
  }
  return (
    <Page title="Runners">
      {me?.permissions.manageRunners ? (
        <p>
          <Link to="/new-runner" className="button">
            New runner
          </Link>
        </p>
      ) : null}
      <ErrorText error={r.error} />
      {!runners && !r.error ? <Loading /> : null}
      {runners && runners.length === 0 ? <p className="muted">No runners yet.</p> : null}
      {runners && runners.length > 0 ? (
        <>
          <table className="list">
            <thead>
              <tr>
                <th>Runner</th>
                <th>State</th>
                <th>Tags</th>
                <th>Running now</th>
                <th className="hide-narrow">Version</th>
                <th>Last check-in</th>
              </tr>
            </thead>
            <tbody>
              {runners.map((run) => (
                <tr key={run.id}>
                  <td>{run.name}</td>
                  <td>{online(run, now) ? <span className="status st-succeeded">online</span> : <span className="status st-cancelled">offline</span>}</td>
                  <td className="mono">{run.tags.join(' ')}</td>
                  <td data-testid="runner-jobs">
                    {(run.currentJobs ?? []).map((j) => (
                      <div key={j.id}>
                        <Link to={`/j/${j.id}`}>{j.name}</Link> <span className="muted">{j.project}</span> <Duration from={j.startedAt} to={undefined} />
                      </div>
                    ))}
                    {(run.currentJobs ?? []).length === 0 ? <span className="muted">idle</span> : null}
                  </td>
                  <td className="hide-narrow">
                    {run.version ?? ''} {run.os ? <span className="muted">{`${run.os}/${run.arch ?? ''}`}</span> : null}
                  </td>
                  <td>
                    <RelTime at={run.lastCheckIn} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Tags</h2>
          <table className="list">
            <thead>
              <tr>
                <th>Tag</th>
                <th>Last asked for</th>
              </tr>
            </thead>
            <tbody>
              {[...tags].map(([t, at]) => (
                <tr key={t}>
                  <td className="mono">
                    <Link to={`/queue?tag=${encodeURIComponent(t)}`}>{t}</Link>
                  </td>
                  <td>
                    <RelTime at={at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </Page>
  );
}
