import { VitePWA } from "vite-plugin-pwa";
import { defineConfig } from "vitest/config";

// The edge serves dist/ at `/`; every asset is bundled, nothing is fetched from a CDN at run time.
export default defineConfig({
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  plugins: [
    // The service worker (src/sw.ts) is ours, built with Workbox; the plugin injects the list of
    // files to precache. Not its generated worker: that one serves index.html cache-first, and a
    // running server must always serve the current build (see src/sw.ts).
    VitePWA({
      strategies: "injectManifest",
      srcDir: "src",
      filename: "sw.ts",
      injectRegister: false, // main.tsx registers it, in a secure context only
      manifest: false,
      injectManifest: {
        // Hashed assets and the favicon only: the shell is cached network-first by the worker.
        globPatterns: ["assets/**/*", "favicon.svg"],
        // A hashed name is its version: no cache-busting revision needed.
        dontCacheBustURLsMatching: /^assets\//,
      },
    }),
  ],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
