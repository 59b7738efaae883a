// Assistant messages as Markdown: marked renders, highlight.js colours code (a subset of
// languages keeps the bundle small), DOMPurify sanitizes. Raw HTML in the Markdown is shown as
// text, never parsed: `<img src=x onerror=...>` reads as what it is and runs nothing.

import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { Marked, type Tokens } from "marked";

const languages = { bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(languages)) hljs.registerLanguage(name, language);

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html({ text }: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(text);
    },
    image({ href, text }: Tokens.Image): string {
      // No remote images: they would load from anywhere. Show a link instead.
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
    code({ text, lang }: Tokens.Code): string {
      const name = (lang ?? "").trim().split(/\s+/)[0].toLowerCase();
      const known = name !== "" && hljs.getLanguage(name) !== undefined;
      const body = known ? hljs.highlight(text, { language: name, ignoreIllegals: true }).value : escapeHtml(text);
      const label = escapeHtml(name || "text");
      return (
        `<div class="code"><div class="code-head"><span>${label}</span>` +
        `<button type="button" class="copy-code" data-copy-code aria-label="Copy ${label} code">Copy</button></div>` +
        `<pre><code class="hljs${known ? ` language-${label}` : ""}">${body}</code></pre></div>`
      );
    },
  },
});

let hooked = false;
function hook(): void {
  if (hooked) return;
  hooked = true;
  DOMPurify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  });
}

const cache = new Map<string, string>();
const cacheSize = 400;

/** Sanitized HTML for a Markdown text (memoized unless `streaming`: long histories re-render cheaply). */
export function render(text: string, streaming = false): string {
  const hit = cache.get(text);
  if (hit !== undefined) return hit;
  hook();
  const raw = marked.parse(text) as string;
  const html = DOMPurify.sanitize(raw, {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "textarea", "select", "img", "video", "audio", "iframe"],
    FORBID_ATTR: ["style"],
  });
  if (streaming) return html; // every partial text differs: caching them would only evict the rest
  if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
  cache.set(text, html);
  return html;
}
