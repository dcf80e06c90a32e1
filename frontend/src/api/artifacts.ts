// artifacts.ts: the files a job uploaded (its list) and their bytes. A plain link
// carries no token, so for a private project the bytes come through fetch with
// the user's token (artifactBlob, artifactText); a public project's may be linked.
import { api, authHeaders, errorText, type Schemas } from './client';
import { answer, type Query } from './query';
import { topics } from './topics';

export type Artifact = Schemas['Artifact'];

export const artifactsQuery = (job: number): Query<Schemas['ArtifactList']> => ({
  key: ['job', job, 'artifacts'],
  fetch: (signal) => answer(api.GET('/api/v1/jobs/{id}/artifacts', { params: { path: { id: job } }, signal })),
  // A job's uploads and its end come on its topic.
  topics: [topics.job(job)],
});

// artifactLink is a short-lived signed address of an artifact on the server's
// artifact origin (--artifact-origin), which serves it inline to whoever holds
// the address, without credentials and apart from the dashboard's origin; null
// when the server has no such origin. Asked for each view: it expires in minutes.
export async function artifactLink(job: number, path: string, signal?: AbortSignal): Promise<string | null> {
  const r = await answer(api.GET('/api/v1/jobs/{id}/artifact-link', { params: { path: { id: job }, query: { path } }, ...(signal ? { signal } : {}) }));
  if (r.error !== undefined) throw new Error(r.error);
  return r.data?.url ?? null;
}

// artifactURL is the address of an artifact's bytes, each segment of its path
// escaped; inline: shown in the browser (under the server's sandbox CSP) rather
// than saved.
export function artifactURL(job: number, path: string, inline = false): string {
  return `/api/v1/jobs/${job}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}${inline ? '?inline=1' : ''}`;
}

async function bytes(job: number, path: string, signal?: AbortSignal, max?: number): Promise<Response> {
  const headers: Record<string, string> = authHeaders();
  if (max !== undefined) headers.Range = `bytes=0-${max - 1}`;
  const res = await fetch(artifactURL(job, path, true), { headers, ...(signal ? { signal } : {}) });
  if (!res.ok) {
    // An expired artifact answers 410 with the date in its message.
    const body: unknown = await res.json().catch(() => undefined);
    throw new Error(errorText(body, res.status));
  }
  return res;
}

// artifactBlob is an artifact's bytes as a Blob of its content type.
export async function artifactBlob(job: number, path: string, signal?: AbortSignal): Promise<Blob> {
  return (await bytes(job, path, signal)).blob();
}

// artifactText is an artifact's bytes as text (UTF-8); max: only its first max
// bytes (a Range request).
export async function artifactText(job: number, path: string, signal?: AbortSignal, max?: number): Promise<string> {
  return (await bytes(job, path, signal, max)).text();
}
