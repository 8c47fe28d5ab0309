/// <reference types="vite/client" />
// How an app tests code that uses PostHog: register the component with convex-test.
import { readFileSync } from "node:fs";
import { convexTest } from "convex-test";
import posthogTest from "convex-posthog/test";
import { startLocalPostHog, type LocalPostHog } from "convex-posthog/local-server";
import { afterAll, beforeAll, beforeEach, vi } from "vitest";
import schema from "./schema.js";

export const modules = import.meta.glob("./**/*.*s");

export function initConvexTest() {
  const t = convexTest(schema, modules);
  posthogTest.register(t);
  return t;
}

/** The example's flags, as PostHog would serve them. */
export const exampleDefinitions = () => JSON.parse(readFileSync(new URL("../flag-definitions.json", import.meta.url), "utf8"));

/**
 * A local PostHog-compatible server for this test file, reset before each test, with the
 * environment pointing the client at it (plus `env`) and, with `definitions`, the example's flags.
 */
export function useLocalPostHog(options: { env?: Record<string, string>; definitions?: boolean } = {}): LocalPostHog {
  let server: LocalPostHog | undefined;
  beforeAll(async () => {
    server = await startLocalPostHog();
  });
  afterAll(async () => await server?.close());
  beforeEach(() => {
    server!.reset();
    if (options.definitions) server!.setDefinitions(exampleDefinitions());
    vi.stubEnv("POSTHOG_API_KEY", "phc_example");
    vi.stubEnv("POSTHOG_HOST", server!.url);
    for (const [name, value] of Object.entries(options.env ?? {})) vi.stubEnv(name, value);
  });
  // The server exists once beforeAll ran; tests reach it through this stand-in.
  return new Proxy({} as LocalPostHog, { get: (_, name) => server![name as keyof LocalPostHog] });
}
