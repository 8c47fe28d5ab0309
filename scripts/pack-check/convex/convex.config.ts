import { defineApp } from "convex/server";
import posthog from "convex-posthog/convex.config.js";

const app = defineApp();
app.use(posthog);
export default app;
