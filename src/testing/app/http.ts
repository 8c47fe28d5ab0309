// The app's HTTP routes: the webhook PostHog calls when a flag changes.
import { httpRouter } from "convex/server";
import { refreshHook, refreshHookWithSecret } from "./posthogApi.js";

const http = httpRouter();
http.route({ path: "/posthog/flags-changed", method: "POST", handler: refreshHook });
http.route({ path: "/posthog/flags-changed-in-code", method: "POST", handler: refreshHookWithSecret });
export default http;
