// The hub's REST API as the UI uses it: the shapes it answers (docs: openapi/openapi.json) and
// authenticated requests. Every URL is relative to the page (…/ui/), so a path prefix in front
// of the hub needs no configuration.

export type Labels = Record<string, string>;

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface ManifestStatus {
  resourceMeta?: {
    ordinal?: number;
    group?: string;
    version?: string;
    kind?: string;
    name?: string;
    namespace?: string;
  };
  conditions?: Condition[] | null;
}

export interface WorkStatus {
  conditions?: Condition[] | null;
  resourceStatus?: { manifests?: ManifestStatus[] | null } | null;
}

export interface ResourceView {
  id: string;
  consumer_name: string;
  name: string | null;
  version: number;
  manifests: Record<string, unknown>[];
  labels: Labels;
  annotations: Labels;
  status: WorkStatus | null;
  status_updated_at: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
}

// `last_seen_at`, `pending`, `failed`, `oldest_pending_since` and `healthy` come with the
// consumers watch (issue 24's contract); older hubs answer `last_seen` and none of the rest.
export interface ConsumerView {
  id: string;
  name: string;
  labels: Labels;
  connected: boolean | null;
  replica?: string | null;
  connected_since?: string | null;
  last_seen?: string | null;
  last_seen_at?: string | null;
  pending?: number;
  failed?: number;
  oldest_pending_since?: string | null;
  healthy?: boolean;
  created_at: string;
}

export interface HistoryItem {
  type: string;
  status: string;
  reason?: string | null;
  message?: string | null;
  observed_generation?: number | null;
  time: string;
}

interface ListPage<T> {
  items: T[];
  total: number;
  page: number;
  size: number;
}

const TOKEN_KEY = "baton.api-token";

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The API's root next to the UI's page: `/x/ui/` → `/x/api/v1/`. */
export function apiUrl(path: string, page: string = location.href): string {
  return new URL(`../api/v1/${path}`, new URL("./", page)).toString();
}

/** The request failed with this status; 401 means the token is missing or wrong. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return t ? { ...extra, authorization: `Bearer ${t}` } : extra;
}

async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(apiUrl(path), { headers: authHeaders(), signal });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new ApiError(res.status, body?.reason ?? `${res.status} ${res.statusText}`);
  }
  return (await res.json()) as T;
}

/** Every page of a list (1000 a page), up to `cap` items. */
async function listAll<T>(path: string, cap: number, signal?: AbortSignal): Promise<T[]> {
  const items: T[] = [];
  for (let page = 1; items.length < cap; page++) {
    const sep = path.includes("?") ? "&" : "?";
    const got = await get<ListPage<T>>(`${path}${sep}page=${page}&size=1000`, signal);
    items.push(...got.items);
    if (got.items.length === 0 || items.length >= got.total) break;
  }
  return items;
}

/** The most resources the UI holds; past it the table says so. */
export const RESOURCE_CAP = 20000;

export const api = {
  consumers: (signal?: AbortSignal) => listAll<ConsumerView>("consumers", 10000, signal),
  resources: (signal?: AbortSignal) => listAll<ResourceView>("resources", RESOURCE_CAP, signal),
  resource: (id: string, signal?: AbortSignal) =>
    get<ResourceView>(`resources/${encodeURIComponent(id)}`, signal),
  history: (id: string, signal?: AbortSignal) =>
    get<{ items: HistoryItem[] }>(`resources/${encodeURIComponent(id)}/history`, signal).then(
      (h) => h.items,
    ),
};
