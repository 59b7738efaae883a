// Parley's service worker: keeps the app shell (index.html and its hashed assets) so the UI opens
// without the server and shows the history saved in IndexedDB. Network first, so a running
// server always serves the current build; the API is never cached.
const CACHE = "parley-shell-v1";
const scope = new URL(self.registration.scope);

// Keep the shell at install: the page that registers the worker was fetched before it existed.
async function precache() {
  const cache = await caches.open(CACHE);
  const response = await fetch(scope.href, { cache: "no-store" });
  if (!response.ok) return;
  const html = await response.clone().text();
  await cache.put(scope.href, response);
  const assets = [...html.matchAll(/(?:src|href)="\.?\/?(assets\/[^"]+)"/g)].map((m) => new URL(m[1], scope).href);
  const keep = new Set(assets);
  await cache.addAll([...keep]);
  // Assets of older builds are never asked for again.
  for (const request of await cache.keys()) {
    if (request.url.includes("/assets/") && !keep.has(request.url)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().catch(() => undefined).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function ours(url, request) {
  if (url.origin !== scope.origin || request.method !== "GET") return false;
  const path = url.pathname;
  if (!path.startsWith(scope.pathname)) return false;
  const rest = path.slice(scope.pathname.length);
  return request.mode === "navigate" ? rest === "" || rest === "index.html" : rest.startsWith("assets/") || rest === "favicon.svg";
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (!ours(url, event.request)) return;
  const key = event.request.mode === "navigate" ? scope.href : event.request;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(key, copy)));
        }
        return response;
      })
      .catch(async () => (await caches.match(key)) ?? Response.error()),
  );
});
