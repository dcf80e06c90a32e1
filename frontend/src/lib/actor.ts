// actor.ts names who did something, as a person reads it: "alice", "admin",
// "deploy (project token)", "job 123", "gitea delivery 3f2a…".
export interface ActorLike {
  kind: string;
  name: string;
}

const KIND_TEXT: Record<string, string> = {
  'project-token': 'project token',
  'user-token': 'personal token',
  runner: 'runner',
};

export function actorText(a: ActorLike): string {
  const kind = KIND_TEXT[a.kind];
  return kind ? `${a.name} (${kind})` : a.name;
}
