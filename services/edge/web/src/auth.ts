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

export function writeToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(key, token);
    else localStorage.removeItem(key);
  } catch {
    // storage disabled: nothing to keep
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
