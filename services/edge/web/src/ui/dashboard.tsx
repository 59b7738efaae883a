// The LLM dashboard: providers and their health, models, recent usage, and in place of the old
// static test block a live chat preview (the plan's ChatPreviewWidget).

import { useEffect, useState } from "preact/hooks";
import type { MessageView } from "../conversation";
import * as app from "../state";
import type { Usage } from "../usage";
import { Composer } from "./chat";
import { ago, count, duration, plainPreview } from "./format";
import { Icon } from "./icons";

function Health({ healthy, off = false }: { healthy: boolean | null; off?: boolean }) {
  const text = off ? "off" : healthy === null ? "unknown" : healthy ? "healthy" : "down";
  return (
    <span class={`health ${text}`}>
      <span class="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function ProvidersCard() {
  const info = app.llm.value;
  return (
    <section class="card providers-card" aria-labelledby="providers-title">
      <header class="card-head">
        <h2 id="providers-title">Providers</h2>
        <Health healthy={info.overall} />
        <button type="button" class="icon-btn end" aria-label="Refresh provider status" title="Refresh" onClick={() => void app.loadLlm()}>
          <Icon name="refresh" size={16} />
        </button>
      </header>
      {info.error && <p class="card-error" role="alert">Could not read every status: {info.error}</p>}
      {info.loadedAt === null ? (
        <p class="muted">Checking providers…</p>
      ) : info.providers.length === 0 ? (
        <p class="muted">No provider reported.</p>
      ) : (
        <ul class="providers">
          {info.providers.map((p) => (
            <li key={p.name} class="provider" data-provider={p.name}>
              <div class="provider-line">
                <strong>{p.name}</strong>
                <Health healthy={p.healthy} off={!p.configured} />
              </div>
              <div class="muted small">
                {p.configured ? (p.defaultModel ? `default model ${p.defaultModel}` : "configured") : "not configured"}
                {p.latencyMs !== null ? ` · ${duration(p.latencyMs)}` : ""}
              </div>
              {p.detail && <div class={`small ${p.configured ? "provider-detail" : "muted"}`}>{p.detail}</div>}
              {p.lastError && p.healthy !== false && (
                <div class="small muted">
                  last error{p.lastErrorAt ? ` ${ago(new Date(p.lastErrorAt).toISOString())}` : ""}: {p.lastError}
                </div>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ModelsCard() {
  const groups = app.modelChoices.value;
  return (
    <section class="card models-card" aria-labelledby="models-title">
      <header class="card-head">
        <h2 id="models-title">Models</h2>
        {groups.length > 0 && (
          <span class="muted small end">
            {((n) => `${n} ${n === 1 ? "model" : "models"}`)(groups.reduce((n, g) => n + Math.max(1, g.models.length), 0))}
          </span>
        )}
      </header>
      {groups.length === 0 ? (
        <p class="muted">{app.llm.value.loadedAt === null ? "Loading…" : "No model listed."}</p>
      ) : (
        <ul class="models">
          {groups.flatMap((g) =>
            (g.models.length ? g.models : ["(default)"]).map((m) => (
              <li key={`${g.provider}/${m}`}>
                <span class="tag">{g.provider}</span> <code>{m}</code>
              </li>
            )),
          )}
        </ul>
      )}
    </section>
  );
}

function Sparkline({ values }: { values: number[] }) {
  if (values.length < 2) return null;
  const recent = values.slice(-40);
  const max = Math.max(...recent, 1);
  const w = 300;
  const h = 56;
  const step = w / (recent.length - 1);
  const y = (v: number) => (h - 3 - (v / max) * (h - 8)).toFixed(1);
  const line = recent.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`).join(" ");
  return (
    <figure class="spark-wrap">
      <svg class="spark" viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" aria-hidden="true">
        <polygon points={`0,${h} ${line} ${w},${h}`} fill="currentColor" opacity="0.12" />
        <polyline points={line} fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke" />
      </svg>
      <figcaption class="spark-caption">
        <span>Mean response time of the last {recent.length} hours with answers</span>
        <span>max {duration(max)}</span>
      </figcaption>
    </figure>
  );
}

function Stat({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div class="stat">
      <div class="stat-value">{value}</div>
      <div class="stat-label">{label}</div>
      {hint && <div class="stat-hint">{hint}</div>}
    </div>
  );
}

function UsageBody({ u }: { u: Usage }) {
  return (
    <>
      <div class="stats">
        <Stat label="answers" value={count(u.answers)} hint={u.open ? `${u.open} in progress` : undefined} />
        <Stat label="tokens" value={count(u.tokens)} hint={u.completionTokens ? `${count(u.completionTokens)} generated` : undefined} />
        <Stat label="mean response" value={duration(u.meanResponseMs)} hint={`p95 ${duration(u.p95ResponseMs)}`} />
        <Stat label="first token" value={duration(u.meanFirstTokenMs)} hint="mean" />
        <Stat label="errors" value={count(u.failed)} hint={u.cancelled ? `${u.cancelled} stopped` : undefined} />
      </div>
      <Sparkline values={u.series} />
      {u.byModel.length > 0 && (
        <table class="usage-table">
          <caption class="sr-only">Usage per model</caption>
          <thead>
            <tr>
              <th scope="col">model</th>
              <th scope="col">answers</th>
              <th scope="col">tokens</th>
              <th scope="col">errors</th>
            </tr>
          </thead>
          <tbody>
            {u.byModel.map((row) => (
              <tr key={row.model}>
                <td>
                  <code>{row.model}</code>
                </td>
                <td>{count(row.answers)}</td>
                <td>{count(row.tokens)}</td>
                <td>{count(row.failed)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {u.errors.length > 0 && (
        <div class="recent-errors">
          <h3>Errors by kind</h3>
          <ul>
            {u.errors.map((e) => (
              <li key={e.kind}>
                <strong>{e.kind}</strong> <span class="muted small">× {count(e.count)}</span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}

function UsageCard() {
  const state = app.recentUsage.value;
  return (
    <section class="card usage-card" aria-labelledby="usage-title">
      <header class="card-head">
        <h2 id="usage-title">Recent usage</h2>
        <span class="muted small">last 24 hours</span>
        <button type="button" class="icon-btn end" aria-label="Refresh usage" title="Refresh" onClick={() => void app.loadUsage()}>
          <Icon name="refresh" size={16} />
        </button>
      </header>
      {state.error && <p class="card-error" role="alert">Could not read usage: {state.error}</p>}
      {state.usage ? (
        state.usage.answers === 0 ? (
          <p class="muted">No answers yet. Send a message in the preview to see numbers here.</p>
        ) : (
          <UsageBody u={state.usage} />
        )
      ) : (
        !state.error && <p class="muted">Loading…</p>
      )}
    </section>
  );
}

function PreviewMessage({ m }: { m: MessageView }) {
  const open = m.status === "pending" || m.status === "streaming";
  return (
    <li class={`preview-msg ${m.role}`} data-status={m.status}>
      <span class="sr-only">{m.role === "user" ? "You: " : "Assistant: "}</span>
      <span class="preview-text">{m.role === "user" ? m.content : plainPreview(m.content) || (open ? "" : "(empty)")}</span>
      {open && (
        <span class="typing" aria-label="Assistant is typing" role="status">
          <i />
          <i />
          <i />
        </span>
      )}
      {m.status === "failed" && <span class="pill failed">failed: {m.error_kind ?? "error"}</span>}
      {m.status === "cancelled" && <span class="pill cancelled">stopped</span>}
    </li>
  );
}

function ChatPreview() {
  const conv = app.conversation.value;
  const session = app.currentSession.value;
  // Start chat shows the message box; the chat itself is created by its first message.
  const [drafting, setDrafting] = useState(false);
  const recent: MessageView[] = [];
  if (conv) {
    for (let i = conv.order.length - 1; i >= 0 && recent.length < 3; i--) {
      const m = conv.byId.get(conv.order[i]);
      if (m) recent.unshift(m);
    }
  }
  return (
    <section class="card preview" aria-labelledby="preview-title">
      <header class="card-head">
        <h2 id="preview-title">Chat</h2>
        {session && (
          <a
            class="btn small ghost end"
            href={app.chatHref(session.id)}
            onClick={(e) => {
              e.preventDefault();
              app.go(app.chatHref(session.id), "composer");
            }}
          >
            Open full chat
          </a>
        )}
      </header>
      {session && <p class="muted small preview-session">{session.title}</p>}
      {!session && !conv && !drafting ? (
        <div class="preview-empty">
          <Icon name="chat" size={36} />
          <p>Start a chat session to test the LLM.</p>
          <button
            type="button"
            class="btn primary"
            onClick={() => {
              setDrafting(true);
              app.newChat(false);
            }}
          >
            Start chat
          </button>
        </div>
      ) : (
        <>
          <ol class="preview-list" aria-label="Last three messages">
            {recent.length === 0 && <li class="muted small">No messages yet: say hello below.</li>}
            {recent.map((m) => (
              <PreviewMessage key={m.id} m={m} />
            ))}
          </ol>
        </>
      )}
      {(session || conv || drafting) && <Composer compact placeholder="Type a test message…" />}
    </section>
  );
}

export function Dashboard() {
  useEffect(() => {
    void app.loadUsage();
    const usage = setInterval(() => {
      if (!document.hidden) void app.loadUsage();
    }, 30_000);
    // Provider status comes from the generation workers' reports: right after a start there may be
    // none yet, so ask again soon until a configured provider shows up, then every 30 s.
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      if (!document.hidden) await app.loadLlm();
      if (stopped) return;
      timer = setTimeout(poll, app.llm.value.providers.some((p) => p.configured) ? 30_000 : 2_000);
    };
    void poll();
    return () => {
      stopped = true;
      clearInterval(usage);
      clearTimeout(timer);
    };
  }, []);

  // The preview shows the most recent chat.
  const loaded = app.sessionsLoaded.value;
  const newest = app.sessions.value[0]?.id ?? null;
  useEffect(() => {
    if (loaded && !app.conversation.value && newest) app.openSession(newest);
  }, [loaded, newest]);

  // When an answer in the preview ends, refresh the numbers.
  const conv = app.conversation.value;
  const openCount = conv ? [...conv.byId.values()].filter((m) => m.status === "pending" || m.status === "streaming").length : 0;
  useEffect(() => {
    if (openCount === 0 && conv && conv.applied > 0) void app.loadUsage();
  }, [openCount]);

  return (
    <div class="dashboard">
      <div class="dash-title">
        <h1 tabIndex={-1}>LLM dashboard</h1>
        <p class="muted">Providers, models and usage at a glance; chat right here or open the full chat.</p>
      </div>
      <div class="grid">
        <ChatPreview />
        <ProvidersCard />
        <UsageCard />
        <ModelsCard />
      </div>
    </div>
  );
}
