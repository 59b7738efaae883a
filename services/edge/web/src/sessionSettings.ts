// The per-session settings form, checked as the API checks them (services/edge/schemas.py):
// temperature 0–2, top_p 0–1, max_tokens a whole number 1–1,000,000; an empty field means
// "the provider's default" (null). The system prompt's size limit is the server's to enforce
// (PARLEY_MAX_MESSAGE_BYTES), and its 413 is shown as it comes.

import type { SessionSettings } from "./protocol";

export interface SettingsForm {
  system_prompt: string;
  temperature: string;
  top_p: string;
  max_tokens: string;
}

export type SettingsErrors = Partial<Record<keyof SettingsForm, string>>;

export function formOf(settings: SessionSettings | null | undefined): SettingsForm {
  const text = (v: number | null | undefined) => (v === null || v === undefined ? "" : String(v));
  return {
    system_prompt: settings?.system_prompt ?? "",
    temperature: text(settings?.temperature),
    top_p: text(settings?.top_p),
    max_tokens: text(settings?.max_tokens),
  };
}

function number(value: string, min: number, max: number, whole: boolean): number | null | string {
  const text = value.trim();
  if (!text) return null;
  const n = Number(text);
  if (!Number.isFinite(n)) return "must be a number";
  if (whole && !Number.isInteger(n)) return "must be a whole number";
  if (n < min || n > max) return `must be between ${min} and ${max.toLocaleString("en")}`;
  return n;
}

/** The settings to send, or the errors per field. */
export function check(form: SettingsForm): { settings: SessionSettings; errors: SettingsErrors } {
  const errors: SettingsErrors = {};
  const temperature = number(form.temperature, 0, 2, false);
  const top_p = number(form.top_p, 0, 1, false);
  const max_tokens = number(form.max_tokens, 1, 1_000_000, true);
  if (typeof temperature === "string") errors.temperature = `Temperature ${temperature}.`;
  if (typeof top_p === "string") errors.top_p = `Top p ${top_p}.`;
  if (typeof max_tokens === "string") errors.max_tokens = `Max tokens ${max_tokens}.`;
  if (form.system_prompt.includes("\u0000")) errors.system_prompt = "The system prompt cannot hold a NUL character.";
  const settings: SessionSettings = {
    system_prompt: form.system_prompt.trim() ? form.system_prompt : null,
    temperature: typeof temperature === "number" ? temperature : null,
    top_p: typeof top_p === "number" ? top_p : null,
    max_tokens: typeof max_tokens === "number" ? max_tokens : null,
  };
  return { settings, errors };
}
