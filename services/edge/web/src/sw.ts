// Parley's service worker, built by vite-plugin-pwa (injectManifest) with Workbox: the UI opens
// without the server and shows the history saved in IndexedDB.
// - Hashed assets (and the favicon) are precached: a hashed file never changes, so cache-first is
//   right for them, and Workbox drops those of older builds when this worker activates.
// - The shell (index.html) is network-first, so a running server always serves the current build;
//   the cached copy is only for when the server is unreachable.
// - Nothing else is routed: the API and the socket always go to the network, never to a cache.
import { clientsClaim } from "workbox-core";
import { cleanupOutdatedCaches, precacheAndRoute } from "workbox-precaching";
import { warmStrategyCache } from "workbox-recipes";
import { registerRoute } from "workbox-routing";
import { NetworkFirst } from "workbox-strategies";

declare const self: ServiceWorkerGlobalScope;

// The edge may serve the UI under a path prefix: everything is relative to the worker's scope.
const scope = new URL(self.registration.scope);
const SHELL_CACHE = "parley-shell";
// The hand-written worker before this one kept the shell and assets here.
const OLD_CACHES = ["parley-shell-v1"];

self.skipWaiting();
clientsClaim();
cleanupOutdatedCaches();
precacheAndRoute(self.__WB_MANIFEST);

// Every navigation to the shell is one cache entry, whichever of `/` or `/index.html` was asked.
const shell = new NetworkFirst({
  cacheName: SHELL_CACHE,
  plugins: [{ cacheKeyWillBeUsed: async () => scope.href }],
});

function isShell({ request, url }: { request: Request; url: URL }): boolean {
  if (request.mode !== "navigate" || url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return false;
  const rest = url.pathname.slice(scope.pathname.length);
  return rest === "" || rest === "index.html";
}
registerRoute(isShell, shell);

// The page that registers the worker was fetched before it existed: keep the shell at install.
warmStrategyCache({ urls: [scope.href], strategy: shell });

self.addEventListener("activate", (event) => {
  event.waitUntil(Promise.all(OLD_CACHES.map((name) => caches.delete(name))));
});
