import { cronJobs } from "convex/server";
import { internal } from "./_generated/api.js";

const crons = cronJobs();

// Each poll of PostHog's /flags/definitions is billed as 10 flag requests: every minute is
// about 14,400 a day. An unchanged project answers 304 and writes nothing flags read.
crons.interval("refresh PostHog flag definitions", { minutes: 1 }, internal.flags.refreshFlagDefinitions);

export default crons;
