/// <reference types="vite/client" />
// Shared test setup: a convex-test instance of the test app with the component registered,
// and polling helpers that wait on real time (deliveries run on real timers).
import { convexTest } from "convex-test";
import { afterAll, afterEach, beforeAll, beforeEach, vi } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "../local-server/server.js";
import { register } from "../test.js";
import componentSchema from "../component/schema.js";
import schema from "./app/schema.js";
import { api } from "./app/_generated/api.js";

const appModules = import.meta.glob("./app/**/*.ts");
const componentModules = import.meta.glob("../component/**/*.ts");

/**
 * The test app with the component registered. Convex's transaction limits are enforced (as
 * in every test: see realConvex.ts) unless a test opts out.
 */
export function initTestApp(options: { transactionLimits?: boolean } = {}) {
  const t = convexTest({ schema, modules: appModules, transactionLimits: options.transactionLimits ?? true });
  register(t);
  return t;
}

/** A test app with the flag definitions the local server serves already refreshed into it. */
export async function initRefreshedApp(): Promise<ReturnType<typeof initTestApp>> {
  const t = initTestApp();
  await t.action(api.flags.refresh, {});
  return t;
}

/** The component alone, to call its internal functions and read its tables. */
export function initComponent() {
  return convexTest({ schema: componentSchema, modules: componentModules, transactionLimits: true });
}

/** Poll `check` until it returns a truthy value, or fail with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Delivery settings that keep tests fast: short flush delay, timeouts and backoff. */
export const FAST_DELIVERY = {
  flushDelayMs: 50,
  requestTimeoutMs: 500,
  retryInitialDelayMs: 20,
  retryMaxDelayMs: 200,
};

/**
 * A local PostHog-compatible server for the test file: started once, reset after each
 * test, with POSTHOG_HOST pointing at it and `env` set for every test.
 */
export function useLocalPostHog(env: Record<string, string> = {}): LocalPostHog {
  let instance: LocalPostHog | undefined;
  beforeAll(async () => {
    instance = await startLocalPostHog();
  });
  afterAll(async () => await instance?.close());
  beforeEach(() => {
    vi.stubEnv("POSTHOG_HOST", instance!.url);
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
  });
  afterEach(() => {
    instance!.reset();
    vi.unstubAllEnvs();
  });
  // The server exists only once beforeAll ran; tests reach it through this stand-in.
  return new Proxy({} as LocalPostHog, { get: (_, name) => instance![name as keyof LocalPostHog] });
}

/**
 * Flush, then wait until nothing is pending: a delivery the slot scheduler started may
 * hold some events while the flush runs, and those arrive a moment later.
 */
export async function flushAndDrain(t: ReturnType<typeof initTestApp>): Promise<void> {
  await t.action(api.events.flush, {});
  await waitFor("the outbox to drain", async () => (await t.query(api.events.status, {})).pending === 0);
}
