// `npm run example:web`: bundles the example's React page into example/web/dist/main.js.
// CONVEX_URL is the deployment the page talks to (a placeholder when unset: CI only builds).
import { statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const outfile = path.join(here, "dist", "main.js");
await build({
  entryPoints: [path.join(here, "main.tsx")],
  outfile,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  jsx: "automatic",
  minify: true,
  sourcemap: true,
  define: {
    CONVEX_URL: JSON.stringify(process.env.CONVEX_URL ?? "https://example-deployment.convex.cloud"),
    "process.env.NODE_ENV": '"production"',
  },
  logLevel: "warning",
});
console.log(`example/web/dist/main.js: ${(statSync(outfile).size / 1024).toFixed(1)} KiB`);
