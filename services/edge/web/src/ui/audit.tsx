// The chat's tools menu (audit view, export, import) and the audit view: the conversation as the
// event log has it, its timeline of stored events, and each answer replayed at its real token
// timing. A disclosure menu of plain buttons and a modal <dialog> (the browser traps focus,
// Escape closes it, focus returns): everything works from the keyboard.

import "../audit.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { type ExportDoc, describeAttempts, exportFile, importFile, loadAudit, replaySteps } from "../audit";
import * as app from "../state";
import { Icon } from "./icons";

const time = (iso: string | null) => (iso ? new Date(iso).toISOString().replace("T", " ").replace("Z", "") : "–");

function save(text: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function Replay({ doc, messageId }: { doc: ExportDoc; messageId: string }) {
  const steps = replaySteps(doc.answers[messageId]);
  const [text, setText] = useState<string | null>(null);
  const [playing, setPlaying] = useState(false);
  const cancel = useRef(false);
  useEffect(() => () => void (cancel.current = true), []);
  if (steps.length === 0) return <span class="muted small">no token timing recorded</span>;

  const play = async () => {
    cancel.current = false;
    setPlaying(true);
    let shown = "";
    setText(shown);
    for (const step of steps) {
      await new Promise((resolve) => setTimeout(resolve, step.waitMs));
      if (cancel.current) break;
      shown += step.text;
      setText(shown);
    }
    setPlaying(false);
  };
  return (
    <div class="replay">
      {playing ? (
        <button type="button" class="btn" onClick={() => (cancel.current = true)}>
          Stop replay
        </button>
      ) : (
        <button type="button" class="btn" onClick={() => void play()} aria-describedby={`timing-${messageId}`}>
          Replay
        </button>
      )}
      <span class="muted small" id={`timing-${messageId}`}>
        {steps.length} chunks over {steps.reduce((a, s) => a + s.waitMs, 0)} ms, at their recorded timing
      </span>
      {text !== null && (
        <pre class="replay-out" data-playing={playing ? "true" : "false"}>
          {text}
        </pre>
      )}
      <p class="sr-only" role="status">
        {playing ? "Replaying the answer" : text !== null ? "Replay finished" : ""}
      </p>
    </div>
  );
}

function AuditBody({ doc }: { doc: ExportDoc }) {
  return (
    <>
      <p class="muted small">
        {doc.timeline.length} stored events, through stream sequence {doc.through_seq}
        {doc.imported_from ? `; imported from session ${doc.imported_from}` : ""}. Read from the event log, not the database.
      </p>
      <h3>Answers</h3>
      <ol class="audit-answers">
        {doc.messages
          .filter((m) => m.role === "assistant")
          .map((m) => (
            <li key={m.id} data-message-id={m.id}>
              <div>
                <strong>{m.status}</strong> · {m.llm_provider}/{m.llm_model} · first token {m.time_to_first_token_ms ?? "–"} ms · total{" "}
                {m.response_time_ms ?? "–"} ms
              </div>
              <ul class="attempts">
                {describeAttempts(doc.answers[m.id]).map((line) => (
                  <li key={line}>{line}</li>
                ))}
              </ul>
              <Replay doc={doc} messageId={m.id} />
            </li>
          ))}
      </ol>
      <h3>Timeline</h3>
      <div class="audit-table-wrap" tabIndex={0} role="region" aria-label="Event timeline">
        <table class="audit-timeline">
          <caption class="sr-only">Every stored event of this chat, in stream order</caption>
          <thead>
            <tr>
              <th scope="col">seq</th>
              <th scope="col">time (UTC)</th>
              <th scope="col">type</th>
              <th scope="col">attempt</th>
              <th scope="col">worker</th>
            </tr>
          </thead>
          <tbody>
            {doc.timeline.map((t) => (
              <tr key={t.seq} data-type={t.type}>
                <td>{t.seq}</td>
                <td>{time(t.occurred_at)}</td>
                <td>
                  <code>{t.type}</code>
                  {t.note && <span class="muted small"> ({t.note})</span>}
                </td>
                <td>{t.attempt ?? ""}</td>
                <td>{t.worker_id ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function ConversationTools() {
  const session = app.currentSession.value;
  const [open, setOpen] = useState(false);
  const [doc, setDoc] = useState<ExportDoc | null>(null);
  const [error, setError] = useState<string | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLDivElement>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const file = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (open) list.current?.querySelector<HTMLElement>("button")?.focus();
  }, [open]);

  const close = (refocus = true) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };
  const failed = (e: unknown) => app.notify(`Could not do that: ${e instanceof Error ? e.message : String(e)}`);

  const audit = async () => {
    if (!session) return;
    close(false);
    setDoc(null);
    setError(null);
    dialog.current?.showModal();
    try {
      setDoc(await loadAudit(session.id));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  const exportAs = async (format: "json" | "markdown") => {
    if (!session) return;
    close();
    try {
      const f = await exportFile(session.id, format);
      save(f.text, f.name, f.type);
      app.notify(`Exported as ${format === "json" ? "JSON" : "Markdown"}`);
    } catch (e) {
      failed(e);
    }
  };
  const importChosen = async () => {
    const chosen = file.current?.files?.[0];
    if (!chosen) return;
    try {
      const created = await importFile(await chosen.text());
      app.notify(`Imported “${created.title ?? "chat"}”`);
      await app.loadSessions();
      app.go(app.chatHref(created.id), "heading");
    } catch (e) {
      failed(e);
    } finally {
      if (file.current) file.current.value = "";
    }
  };

  return (
    <div
      class="tools"
      onKeyDown={(e) => {
        if (open && e.key === "Escape") {
          e.preventDefault();
          close();
        }
      }}
    >
      <button
        ref={button}
        type="button"
        class="icon-btn"
        aria-label="Chat tools"
        title="Chat tools"
        aria-expanded={open}
        aria-controls="chat-tools"
        onClick={() => setOpen(!open)}
      >
        <Icon name="more" />
      </button>
      {open && (
        <div ref={list} id="chat-tools" class="tools-list" role="group" aria-label="Chat tools">
          <button type="button" disabled={!session} onClick={() => void audit()}>
            Audit view
          </button>
          <button type="button" disabled={!session} onClick={() => void exportAs("json")}>
            Export as JSON
          </button>
          <button type="button" disabled={!session} onClick={() => void exportAs("markdown")}>
            Export as Markdown
          </button>
          <button
            type="button"
            onClick={() => {
              close(false);
              file.current?.click();
            }}
          >
            Import a chat…
          </button>
        </div>
      )}
      <input ref={file} type="file" accept="application/json,.json" class="sr-only" tabIndex={-1} aria-label="Chat export to import" onChange={() => void importChosen()} />
      <dialog ref={dialog} class="modal audit-dialog" aria-labelledby="audit-title" onClose={() => button.current?.focus()}>
        <div class="audit-head">
          <h2 id="audit-title">Audit: {session?.title ?? "chat"}</h2>
          <button type="button" class="icon-btn" aria-label="Close the audit view" onClick={() => dialog.current?.close()}>
            <Icon name="close" />
          </button>
        </div>
        {error && (
          <p class="card-error" role="alert">
            Could not read the event log: {error}
          </p>
        )}
        {doc ? <AuditBody doc={doc} /> : !error && <p class="muted">Reading the event log…</p>}
      </dialog>
    </div>
  );
}
