import { defineConfig } from "vitest/config";

// `base: "./"`: every URL in the built page is relative, so the hub can serve it at /ui/ or
// behind any path prefix without knowing the prefix.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    target: "es2022",
  },
  // `npx vite`: the page at / calls ../api/v1/ = /api/v1/, passed to a running hub.
  server: {
    proxy: { "/api": process.env.BATON_HUB ?? "http://127.0.0.1:8000" },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
