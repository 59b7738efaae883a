// The shell: top bar with navigation and the connection state, the current screen, the live
// region that announces streamed answers, the token prompt and toasts.

import { useEffect, useState } from "preact/hooks";
import * as app from "../state";
import { ChatScreen } from "./chat";
import { Dashboard } from "./dashboard";
import { Icon } from "./icons";
import { SearchLauncher } from "./search";

function useNow(active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function ConnectionBadge() {
  const state = app.link.value;
  const now = useNow(state.phase === "waiting");
  let text: string;
  let tone: string;
  switch (state.phase) {
    case "live":
      [text, tone] = ["Live", "ok"];
      break;
    case "replaying":
      [text, tone] = ["Catching up…", "busy"];
      break;
    case "connecting":
      [text, tone] = [state.attempt ? "Reconnecting…" : "Connecting…", "busy"];
      break;
    case "waiting": {
      const s = Math.max(0, Math.ceil(((state.retryAt ?? now) - now) / 1000));
      [text, tone] = [`Reconnecting in ${s} s`, "warn"];
      break;
    }
    case "offline":
      [text, tone] = ["Offline", "bad"];
      break;
    case "unauthorized":
      [text, tone] = ["Token needed", "bad"];
      break;
    case "gone":
      [text, tone] = ["Chat not found", "bad"];
      break;
    default:
      [text, tone] = app.reachable.value ? ["Online", "ok"] : ["Server unreachable", "bad"];
  }
  return (
    <div class="conn">
      <span class={`conn-badge ${tone}`} role="status" data-phase={state.phase} title={state.detail ?? text}>
        <span class="dot" aria-hidden="true" />
        <span class="sr-only">Connection: </span>
        <span class="conn-text">{text}</span>
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
        <a class="brand" href="#/" aria-label="Parley, LLM dashboard">
          <span class="logo" aria-hidden="true">
            P
          </span>
          <span class="brand-name">Parley</span>
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
        {route.view === "dashboard" ? <Dashboard /> : <ChatScreen sessionId={route.sessionId} />}
      </main>
      <div class="sr-only" aria-live="polite" aria-atomic="true" id="announcer">
        {app.announcement.value}
      </div>
      <Toast />
    </>
  );
}
