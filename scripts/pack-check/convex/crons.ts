// The refresh cron of @posthog/convex's README (1.x), unchanged but for the import.
import { cronJobs } from "convex/server";
import { internal } from "./_generated/api.js";

const crons = cronJobs();
crons.interval("refresh posthog feature flag definitions", { minutes: 1 }, internal.fromPosthogConvex.refreshPosthogFlags);
export default crons;
