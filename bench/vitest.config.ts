// `npm run bench`: the benchmarks run in the same environment as the tests (edge-runtime,
// with the Convex runtime's missing globals enforced), one file at a time, on real timers.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "edge-runtime",
    setupFiles: ["./src/testing/convexRuntimeGlobals.ts"],
    include: ["bench/**/*.bench.test.ts"],
    exclude: ["**/node_modules/**", "dist/**"],
    fileParallelism: false,
    // The bench files skip themselves unless this is set, so the root config's `vitest run`
    // (which also matches *.test.ts) does not run them.
    env: { CONVEX_POSTHOG_BENCH: "1" },
    testTimeout: 300_000,
    hookTimeout: 60_000,
  },
});
