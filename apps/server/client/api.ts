/**
 * Calls to the admin API from a signed-in page: the session cookie goes along by itself; a
 * change carries the page's CSRF token (from <meta name="csrf-token">).
 */
const csrfToken = () =>
  document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';

export interface ApiAnswer<T = Record<string, unknown>> {
  ok: boolean;
  status: number;
  body: T;
}

export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: string,
): Promise<ApiAnswer<T>> {
  const response = await fetch(path, {
    method,
    headers: { 'x-csrf-token': csrfToken(), 'content-type': 'text/plain; charset=utf-8' },
    ...(body === undefined ? {} : { body }),
    credentials: 'same-origin',
  });
  let parsed: unknown;
  try {
    parsed = await response.json();
  } catch {
    parsed = { error: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, body: parsed as T };
}

/** An element built with its text set as text, never as HTML. */
export function element(
  tag: string,
  text?: string,
  attributes: Record<string, string> = {},
): HTMLElement {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}
