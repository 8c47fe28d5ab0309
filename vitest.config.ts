import { defineConfig } from "vitest/config";
import { realConvexPlugin } from "./src/testing/realConvex.js";

export default defineConfig({
  // The real-Convex test mode (src/testing/realConvex.ts): convex-test counts index ranges,
  // enforces limits and shows scheduled mutations as the backend does.
  plugins: [realConvexPlugin()],
  test: {
    environment: "edge-runtime",
    setupFiles: ["./src/testing/convexRuntimeGlobals.ts"],
    exclude: ["**/node_modules/**", "dist/**", "bench/**"],
    // As in the Convex runtime, date-times without an offset are read as UTC.
    env: { TZ: "UTC" },
    // Deliveries run on real timers against a local server: leave a loaded 2-core machine room.
    testTimeout: 30_000,
  },
});
