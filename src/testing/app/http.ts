// The app's HTTP routes: the webhook PostHog calls when a flag changes.
import { httpRouter } from "convex/server";
import { refreshHook } from "./posthogApi.js";

const http = httpRouter();
http.route({ path: "/posthog/flags-changed", method: "POST", handler: refreshHook });
export default http;
