import { cronJobs } from "convex/server";
import { internal } from "./_generated/api.js";

const crons = cronJobs();

// Each poll of PostHog's /flags/definitions is billed as 10 flag requests: every minute is
// about 14,400 a day. An unchanged project answers 304 and writes nothing flags read.
crons.interval("refresh PostHog flag definitions", { minutes: 1 }, internal.flags.refreshFlagDefinitions);

// Flag governance (convex/governance.ts): the guardian every minute, so a regressing flag is
// off within about two minutes of its first bad events; sync and releases less often.
crons.interval("guard PostHog flags", { minutes: 1 }, internal.governance.guardFlags);
crons.interval("sync PostHog flags", { minutes: 10 }, internal.governance.syncFlags);
crons.daily("track PostHog flag releases", { hourUTC: 8, minuteUTC: 0 }, internal.governance.trackReleases);

export default crons;
