// Builds the host panel into dist/panel, which the server serves at /panel/.
// Run from the repository root: `vite build --config panel/vite.config.ts`.
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  root: __dirname,
  base: "/panel/",
  build: {
    outDir: resolve(__dirname, "../dist/panel"),
    emptyOutDir: true,
  },
});
