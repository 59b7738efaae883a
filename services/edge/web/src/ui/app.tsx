// The shell: top bar with navigation and the connection state, the current screen, the live
// region that announces streamed answers, the token prompt and toasts.

import { useEffect, useRef, useState } from "preact/hooks";
import type { LinkState } from "../link";
import * as app from "../state";
import { ChatScreen } from "./chat";
import { Dashboard } from "./dashboard";
import { Icon } from "./icons";
import { SearchLauncher } from "./search";

/** Re-render every second while `active`; the time is read at render, never kept stale. */
function useTick(active: boolean): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setTick((n) => n + 1), 100);
    return () => clearInterval(timer);
  }, [active]);
}

/** What the badge says; `spoken` leaves the countdown out (screen readers hear phase changes only). */
export function badgeText(state: LinkState, reachable: boolean, now: number): { text: string; spoken: string; tone: string } {
  switch (state.phase) {
    case "live":
      return { text: "Online", spoken: "Online", tone: "ok" };
    case "replaying":
      return { text: "Catching up…", spoken: "Catching up", tone: "busy" };
    case "connecting":
      return state.attempt
        ? { text: "Reconnecting…", spoken: "Connection lost, reconnecting", tone: "busy" }
        : { text: "Connecting…", spoken: "Connecting", tone: "busy" };
    case "waiting": {
      const s = Math.max(0, Math.ceil(((state.retryAt ?? now) - now) / 1000));
      return { text: s > 0 ? `Reconnecting in ${s} s` : "Reconnecting…", spoken: "Connection lost, reconnecting", tone: "warn" };
    }
    case "offline":
      return { text: "Offline", spoken: "Offline", tone: "bad" };
    case "unauthorized":
      return { text: "Token needed", spoken: "Token needed", tone: "bad" };
    case "gone":
      return { text: "Chat not found", spoken: "Chat not found", tone: "bad" };
    default:
      return reachable
        ? { text: "Online", spoken: "Online", tone: "ok" }
        : { text: "Server unreachable", spoken: "Server unreachable", tone: "bad" };
  }
}

/** A state must hold this long before it is announced; announcements are this far apart at least. */
const settleMs = 1000;
const spacingMs = 5000;

/** The spoken connection state: only states that last, and not more often than every few seconds. */
function useSpoken(text: string): string {
  const [spoken, setSpoken] = useState(text);
  const last = useRef(0);
  useEffect(() => {
    if (text === spoken) return undefined;
    const wait = Math.max(settleMs, last.current + spacingMs - Date.now());
    const timer = setTimeout(() => {
      last.current = Date.now();
      setSpoken(text);
    }, wait);
    return () => clearTimeout(timer);
  }, [text, spoken]);
  return spoken;
}

export function ConnectionBadge() {
  const state = app.link.value;
  useTick(state.phase === "waiting");
  const { text, spoken, tone } = badgeText(state, app.reachable.value, Date.now());
  const said = useSpoken(spoken);
  return (
    <div class="conn">
      <span class={`conn-badge ${tone}`} data-phase={state.phase} title={state.detail ?? text}>
        <span class="dot" aria-hidden="true" />
        <span class="sr-only">Connection: </span>
        <span class="conn-text">{text}</span>
      </span>
      <span class="sr-only" role="status" id="conn-status">
        {said === "Online" || said === "Connecting" ? "" : `Connection: ${said}`}
      </span>
      {(state.phase === "waiting" || state.phase === "offline") && (
        <button type="button" class="btn small ghost" onClick={app.retryConnection}>
          Retry now
        </button>
      )}
    </div>
  );
}

function TokenPrompt() {
  const [token, setToken] = useState("");
  if (!app.needsToken.value) return null;
  return (
    <form
      class="token-bar"
      onSubmit={(e) => {
        e.preventDefault();
        app.saveToken(token);
        setToken("");
      }}
    >
      <label>
        <span>This server requires an access token (JWT).</span>
        <input type="password" value={token} autoComplete="off" onInput={(e) => setToken((e.target as HTMLInputElement).value)} aria-label="Access token" />
      </label>
      <button type="submit" class="btn primary small" disabled={!token.trim()}>
        Use token
      </button>
    </form>
  );
}

function Toast() {
  const text = app.toast.value;
  useEffect(() => {
    if (!text) return undefined;
    const timer = setTimeout(() => (app.toast.value = null), 6000);
    return () => clearTimeout(timer);
  }, [text]);
  if (!text) return null;
  return (
    <div class="toast" role="alert">
      <span>{text}</span>
      <button type="button" class="icon-btn" aria-label="Dismiss" onClick={() => (app.toast.value = null)}>
        <Icon name="close" size={16} />
      </button>
    </div>
  );
}

export function App() {
  const route = app.route.value;
  const focus = app.focusRequest.value;
  // After a route change (or New chat), focus its heading or the message box, once it rendered.
  useEffect(() => {
    if (!focus) return;
    requestAnimationFrame(() => {
      const main = document.getElementById("main");
      const target =
        focus.target === "composer"
          ? main?.querySelector<HTMLElement>("form.composer textarea")
          : main?.querySelector<HTMLElement>("h1");
      (target ?? main)?.focus();
      if (app.focusRequest.value === focus) app.focusRequest.value = null;
    });
  }, [focus, route]);
  useEffect(() => {
    const title = route.view === "dashboard" ? "LLM dashboard" : (app.currentSession.value?.title ?? "Chat");
    document.title = `${title} · Parley`;
  }, [route, app.currentSession.value?.title]);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href="#/">
          <span class="logo" aria-hidden="true" />
          <span class="brand-name">Parley</span>
          <span class="sr-only">LLM dashboard</span>
        </a>
        <nav class="tabs" aria-label="Screens">
          <a href="#/" aria-current={route.view === "dashboard" ? "page" : undefined}>
            <Icon name="gauge" size={16} /> <span>Dashboard</span>
          </a>
          <a
            href={app.conversation.value ? app.chatHref(app.conversation.value.sessionId) : "#/chat"}
            aria-current={route.view === "chat" ? "page" : undefined}
          >
            <Icon name="chat" size={16} /> <span>Chat</span>
          </a>
        </nav>
        <SearchLauncher />
        <ConnectionBadge />
      </header>
      <TokenPrompt />
      <main id="main" tabIndex={-1}>
        {route.view === "dashboard" ? <Dashboard /> : <ChatScreen sessionId={route.sessionId} fresh={route.fresh} />}
      </main>
      <div class="sr-only" aria-live="polite" aria-atomic="true" id="announcer">
        {app.announcement.value}
      </div>
      <Toast />
    </>
  );
}
