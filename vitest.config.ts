import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "edge-runtime",
    setupFiles: ["./src/testing/convexRuntimeGlobals.ts"],
    exclude: ["**/node_modules/**", "dist/**", "bench/**"],
    // As in the Convex runtime, date-times without an offset are read as UTC.
    env: { TZ: "UTC" },
  },
});
