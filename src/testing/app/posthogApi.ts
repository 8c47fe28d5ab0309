// The browser API as an app exports it (convex/posthogApi.ts): exposeApi over the typed
// client of typed.ts, with who the user is taken from Convex auth.
import { PostHog, type BrowserFlags, type BrowserIdentity } from "../../client/index.js";
import type { IdentifyCtx } from "../../client/types.js";
import { api, components } from "./_generated/api.js";
import { query } from "./_generated/server.js";
import { events, flags as registry } from "./typed.js";
import { v } from "convex/values";

const posthog = new PostHog(components.posthog, { flags: registry, events });

/** The signed-in user, their plan (a custom claim) as a person property. */
async function fromAuth(ctx: IdentifyCtx): Promise<BrowserIdentity | null> {
  const user = await ctx.auth.getUserIdentity();
  if (user === null) return null;
  return { distinctId: user.subject, personProperties: { plan: user.plan ?? "free" } };
}

/** Signed-out users read flags with their posthog-js anonymous id. */
export const { flags, flag, reportExposure, track, refreshHook } = posthog.exposeApi({ identify: fromAuth, anonymous: "client-id" });

/** The default policy: signed-out users get no flags, and can record nothing. */
const strict = posthog.exposeApi({ identify: fromAuth });
export const strictFlags = strict.flags;
export const strictFlag = strict.flag;
export const strictReportExposure = strict.reportExposure;
export const strictTrack = strict.track;

/** A webhook whose secret is given in code rather than by POSTHOG_WEBHOOK_SECRET. */
export const refreshHookWithSecret = posthog.exposeApi({ identify: fromAuth, webhookSecret: "from-options" }).refreshHook;

/** Only two of the registry's flags for the browser. */
export const narrowFlags = posthog.exposeApi({ identify: fromAuth, keys: ["release_search_v2", "tier_search_pro"] }).flags;

/** An app without a registry that lets the browser read every flag. */
const open = new PostHog(components.posthog).exposeApi({ identify: fromAuth, keys: "all" });
export const anyFlags = open.flags;
export const anyFlag = open.flag;

/** What the flags query read: run as a nested query so its reads are this transaction's. */
export const flagsReadCost = query({
  args: { keys: v.optional(v.array(v.string())) },
  handler: async (ctx, args): Promise<{ flagCount: number; documentsRead: number; bytesRead: number }> => {
    const answer: BrowserFlags = await ctx.runQuery(api.posthogApi.anyFlags, args);
    const metrics = await ctx.meta.getTransactionMetrics();
    return { flagCount: Object.keys(answer.reasons).length, documentsRead: metrics.documentsRead.used, bytesRead: metrics.bytesRead.used };
  },
});
