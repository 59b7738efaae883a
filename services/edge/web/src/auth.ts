// Auth is off in the embedded default. When the server wants a token (401 / close 4401), the user
// pastes one, or opens the app with ?token=...; it is kept in localStorage and removed from the URL.

const key = "parley.token";

export function readToken(): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: run without a token
  }
}

const listeners: (() => void)[] = [];

/** Called after the token changed (another token, or none: signed out). */
export function onTokenChange(listener: () => void): void {
  listeners.push(listener);
}

export function writeToken(token: string | null): void {
  const before = readToken();
  try {
    if (token) localStorage.setItem(key, token);
    else localStorage.removeItem(key);
  } catch {
    // storage disabled: nothing to keep
  }
  if ((token || null) !== before) for (const listener of listeners) listener();
}

/** The token's `sub` (not verified: the server does that), to keep each user's cache apart. */
export function subjectOf(token: string | null): string | null {
  const payload = token?.split(".")[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(payload.length / 4) * 4, "="));
    const sub: unknown = JSON.parse(json).sub;
    return typeof sub === "string" && sub ? sub : null;
  } catch {
    return null;
  }
}

/** Move a ?token= query parameter into storage, so it does not stay in the address bar or history. */
export function captureToken(): void {
  const url = new URL(window.location.href);
  const token = url.searchParams.get("token");
  if (token === null) return;
  writeToken(token.trim() || null);
  url.searchParams.delete("token");
  window.history.replaceState(window.history.state, "", url.toString());
}
