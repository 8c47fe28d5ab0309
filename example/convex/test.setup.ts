/// <reference types="vite/client" />
// How an app tests code that uses PostHog: register the component with convex-test.
import { convexTest } from "convex-test";
import posthogTest from "convex-posthog/test";
import schema from "./schema.js";

export const modules = import.meta.glob("./**/*.*s");

export function initConvexTest() {
  const t = convexTest(schema, modules);
  posthogTest.register(t);
  return t;
}
