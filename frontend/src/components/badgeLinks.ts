// badgeLinks builds the badge and page URLs of an entity or a collection, and the
// Markdown that shows one linked to the other, for a README or a merge request.

// seg encodes one path segment strictly (RFC 3986), so not even a parenthesis of
// a value can end a Markdown link early.
export function seg(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface BadgeLinks {
  badge: string;
  page: string;
  markdown: string;
}

// badgeLinks: base is the server's origin (window.location.origin); a collection's
// badge shows its newest entity.
export function badgeLinks(base: string, project: string, key: string, val: string, collection: boolean): BadgeLinks {
  const b = base.replace(/\/+$/, '');
  const badge = `${b}/badge/${seg(project)}/${collection ? 'c/' : ''}${seg(key)}/${seg(val)}.svg`;
  const page = `${b}/p/${seg(project)}/${seg(key)}/${seg(val)}`;
  return { badge, page, markdown: `[![aura](${badge})](${page})` };
}
