/// <reference types="vite/client" />
// Test helper for apps: `import posthogTest from "convex-posthog/test"` then
// `posthogTest.register(t)` registers the component with a convex-test instance.
import type { TestConvex } from "convex-test";
import type { GenericSchema, SchemaDefinition } from "convex/server";
import schema from "./component/schema.js";

const modules = import.meta.glob("./component/**/*.ts");

/** Register the component under `name` (default "posthog", as in `app.use(posthog)`). */
export function register(t: TestConvex<SchemaDefinition<GenericSchema, boolean>>, name: string = "posthog") {
  t.registerComponent(name, schema, modules);
}

export default { register, schema, modules };
