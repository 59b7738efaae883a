// Per-session generation settings: a button in the chat header opens a modal <dialog> (the
// browser traps focus, Escape closes it and focus returns to the button), checked as the API
// checks them before anything is sent.

import { useRef, useState } from "preact/hooks";
import { check, formOf, type SettingsErrors, type SettingsForm } from "../sessionSettings";
import * as app from "../state";
import { Icon } from "./icons";

function Field({ id, label, hint, error, children }: { id: string; label: string; hint: string; error?: string; children: preact.ComponentChildren }) {
  return (
    <div class={`field${error ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      {children}
      <small id={`${id}-hint`} class="hint">
        {hint}
      </small>
      {error && (
        <small id={`${id}-error`} class="field-error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

export function SessionSettingsButton() {
  const session = app.currentSession.value;
  const dialog = useRef<HTMLDialogElement>(null);
  const [form, setForm] = useState<SettingsForm>(formOf(null));
  const [errors, setErrors] = useState<SettingsErrors>({});
  const [serverError, setServerError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  if (!session) return null;

  const open = () => {
    setForm(formOf(session.settings));
    setErrors({});
    setServerError(null);
    dialog.current?.showModal();
  };
  const set = (key: keyof SettingsForm) => (e: Event) => setForm({ ...form, [key]: (e.target as HTMLInputElement).value });
  const described = (id: keyof SettingsForm) => `s-${id}-hint${errors[id] ? ` s-${id}-error` : ""}`;

  const save = async (e: Event) => {
    e.preventDefault();
    const checked = check(form);
    setErrors(checked.errors);
    const first = Object.keys(checked.errors)[0];
    if (first) {
      dialog.current?.querySelector<HTMLElement>(`#s-${first}`)?.focus();
      return;
    }
    setSaving(true);
    const failed = await app.saveSettings(session.id, checked.settings);
    setSaving(false);
    if (failed) setServerError(failed);
    else dialog.current?.close();
  };

  return (
    <>
      <button type="button" class="icon-btn" aria-label="Chat settings" title="Chat settings" onClick={open}>
        <Icon name="sliders" />
      </button>
      <dialog ref={dialog} class="modal settings-dialog" aria-labelledby="settings-title">
        <form onSubmit={save} noValidate>
          <h2 id="settings-title">Chat settings</h2>
          <Field id="s-system_prompt" label="System prompt" hint="Sent before the conversation in every answer of this chat." error={errors.system_prompt}>
            <textarea id="s-system_prompt" rows={4} value={form.system_prompt} onInput={set("system_prompt")} aria-describedby={described("system_prompt")} aria-invalid={!!errors.system_prompt} />
          </Field>
          <div class="field-row">
            <Field id="s-temperature" label="Temperature" hint="0 to 2; empty: the model's default." error={errors.temperature}>
              <input id="s-temperature" inputMode="decimal" value={form.temperature} onInput={set("temperature")} aria-describedby={described("temperature")} aria-invalid={!!errors.temperature} />
            </Field>
            <Field id="s-top_p" label="Top p" hint="0 to 1; empty: the model's default." error={errors.top_p}>
              <input id="s-top_p" inputMode="decimal" value={form.top_p} onInput={set("top_p")} aria-describedby={described("top_p")} aria-invalid={!!errors.top_p} />
            </Field>
            <Field id="s-max_tokens" label="Max tokens" hint="Longest answer, 1 to 1,000,000." error={errors.max_tokens}>
              <input id="s-max_tokens" inputMode="numeric" value={form.max_tokens} onInput={set("max_tokens")} aria-describedby={described("max_tokens")} aria-invalid={!!errors.max_tokens} />
            </Field>
          </div>
          {serverError && (
            <p class="field-error" role="alert">
              Not saved: {serverError}
            </p>
          )}
          <div class="dialog-actions">
            <button type="button" class="btn ghost" onClick={() => dialog.current?.close()}>
              Cancel
            </button>
            <button type="submit" class="btn primary" disabled={saving}>
              {saving ? "Saving…" : "Save"}
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
