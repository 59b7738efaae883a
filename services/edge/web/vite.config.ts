import { defineConfig } from "vitest/config";

// The edge serves dist/ at `/`; every asset is bundled, nothing is fetched from a CDN at run time.
export default defineConfig({
  base: "./",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
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
