// The component's definition lives beside its modules (src/component), which the Convex
// CLI bundles as a folder; this file only re-exports it for tools that look at the root.
export { default } from "./src/component/convex.config.js";
