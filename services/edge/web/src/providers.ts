// The shapes of GET /llm/providers, /llm/models and /llm/health are not pinned down by
// docs/protocol.md ("provider list with health, models, health"), so they are read tolerantly
// into one form the dashboard and the model picker use.

export interface ProviderInfo {
  name: string;
  /** true healthy, false down, null unknown (not checked yet). */
  healthy: boolean | null;
  configured: boolean;
  defaultModel: string | null;
  models: string[];
  /** Last health-check latency, when reported. */
  latencyMs: number | null;
  /** Why it is down or not configured, when reported. */
  detail: string | null;
  /** The latest failure (of a check or of an answer), and when (ms since epoch), when reported. */
  lastError: string | null;
  lastErrorAt: number | null;
}

export interface ModelInfo {
  provider: string | null;
  id: string;
}

type Json = unknown;
type Obj = Record<string, Json>;

function isObj(v: Json): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function str(v: Json): string | null {
  return typeof v === "string" && v !== "" ? v : null;
}

function num(v: Json): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

const goodWords = new Set(["ok", "healthy", "up", "ready", "available", "pass", "green"]);
const badWords = new Set(["down", "unhealthy", "error", "failed", "fail", "unavailable", "unreachable", "red"]);

export function healthOf(v: Json): boolean | null {
  if (typeof v === "boolean") return v;
  const s = str(v)?.toLowerCase();
  if (s && goodWords.has(s)) return true;
  if (s && (badWords.has(s) || s === "degraded")) return false;
  if (isObj(v)) {
    for (const key of ["healthy", "ok", "available", "status", "state", "health"]) {
      if (key in v) {
        const h = healthOf(v[key]);
        if (h !== null) return h;
      }
    }
  }
  return null;
}

function modelIds(v: Json): string[] {
  const list = Array.isArray(v) ? v : isObj(v) && Array.isArray(v.data) ? v.data : [];
  const out: string[] = [];
  for (const m of list) {
    const id = str(m) ?? (isObj(m) ? (str(m.id) ?? str(m.name) ?? str(m.model)) : null);
    if (id && !out.includes(id)) out.push(id);
  }
  return out;
}

function entries(v: Json, listKeys: string[]): [string | null, Json][] {
  if (Array.isArray(v)) return v.map((item) => [null, item]);
  if (!isObj(v)) return [];
  for (const key of listKeys) {
    if (key in v) return entries(v[key], []);
  }
  return Object.entries(v).filter(([, item]) => isObj(item) || Array.isArray(item));
}

export function parseProviders(body: Json): ProviderInfo[] {
  const out: ProviderInfo[] = [];
  for (const [key, item] of entries(body, ["providers", "items", "data"])) {
    if (!isObj(item)) {
      const name = str(item) ?? key;
      if (name) {
        out.push({ name, healthy: null, configured: true, defaultModel: null, models: [], latencyMs: null, detail: null, lastError: null, lastErrorAt: null });
      }
      continue;
    }
    const name = str(item.name) ?? str(item.id) ?? str(item.provider) ?? key;
    if (!name) continue;
    const health = isObj(item.health) ? item.health : item;
    out.push({
      name,
      healthy: healthOf(health),
      configured: typeof item.configured === "boolean" ? item.configured : true,
      defaultModel: str(item.default_model) ?? str(item.model),
      models: modelIds(item.models),
      latencyMs: num(health.latency_ms) ?? num(item.latency_ms) ?? num(health.response_time_ms),
      detail: str(health.detail) ?? str(health.error) ?? str(item.detail) ?? str(item.error) ?? str(item.reason) ?? str(health.message),
      lastError: str(health.last_error),
      // Unix seconds from the edge; milliseconds when a number that large says so.
      lastErrorAt: ((t) => (t === null ? null : t < 1e11 ? t * 1000 : t))(num(health.last_error_at)),
    });
  }
  return out;
}

export function parseModels(body: Json): ModelInfo[] {
  const out: ModelInfo[] = [];
  const add = (provider: string | null, id: string | null) => {
    if (id && !out.some((m) => m.id === id && m.provider === provider)) out.push({ provider, id });
  };
  for (const [key, item] of entries(body, ["models", "data", "items"])) {
    if (Array.isArray(item)) {
      for (const id of modelIds(item)) add(key, id);
    } else if (isObj(item)) {
      const provider = str(item.provider) ?? str(item.owned_by) ?? key;
      if (Array.isArray(item.models)) for (const id of modelIds(item.models)) add(provider, id);
      else add(provider, str(item.id) ?? str(item.name) ?? str(item.model));
    } else {
      add(key, str(item));
    }
  }
  return out;
}

/** Overall health from /llm/health, and per-provider health merged into `providers`. */
export function mergeHealth(providers: ProviderInfo[], body: Json): { overall: boolean | null; providers: ProviderInfo[] } {
  const overall = healthOf(isObj(body) ? (body.status ?? body.healthy ?? body.ok ?? null) : body);
  const merged = providers.map((p) => ({ ...p }));
  const parts = isObj(body) ? (body.providers ?? body.checks ?? null) : Array.isArray(body) ? body : null;
  for (const info of parseProviders(parts ?? [])) {
    const held = merged.find((p) => p.name === info.name);
    if (held) {
      if (info.healthy !== null) held.healthy = info.healthy;
      held.latencyMs = info.latencyMs ?? held.latencyMs;
      held.detail = info.detail ?? held.detail;
      held.lastError = info.lastError ?? held.lastError;
      held.lastErrorAt = info.lastErrorAt ?? held.lastErrorAt;
    } else {
      merged.push(info);
    }
  }
  return { overall: overall ?? (merged.length ? merged.every((p) => p.healthy !== false) : null), providers: merged };
}

/** Models grouped per provider for a picker: those the providers list, then /llm/models. */
export function choices(providers: ProviderInfo[], models: ModelInfo[]): { provider: string; models: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const p of providers) {
    if (!p.configured) continue;
    const list = groups.get(p.name) ?? [];
    for (const m of [p.defaultModel, ...p.models]) if (m && !list.includes(m)) list.push(m);
    groups.set(p.name, list);
  }
  for (const m of models) {
    const provider = m.provider ?? providers[0]?.name ?? "default";
    if (providers.some((p) => p.name === provider && !p.configured)) continue;
    const list = groups.get(provider) ?? [];
    if (!list.includes(m.id)) list.push(m.id);
    groups.set(provider, list);
  }
  return [...groups.entries()].map(([provider, list]) => ({ provider, models: list }));
}
