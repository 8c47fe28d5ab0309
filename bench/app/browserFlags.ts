// The browser API (posthog.exposeApi) as an app would export it, for the browserFlags bench:
// the `flags` and `flag` queries, the webhook route's handler (bench/app/http.ts), and
// wrappers that run a query nested and report what it read (the transaction's metrics), next
// to the same for getAllFlags, the read of every flag the browser API avoids.
import { v } from "convex/values";
import { PostHog, type BrowserFlagResult, type BrowserFlags, type BrowserIdentity } from "../../src/client/index.js";
import type { IdentifyCtx } from "../../src/client/types.js";
import { api, components } from "./_generated/api.js";
import { query, type QueryCtx } from "./_generated/server.js";

const posthog = new PostHog(components.posthog);

/** The signed-in user; person properties travel as JSON text in a custom claim. */
async function fromAuth(ctx: IdentifyCtx): Promise<BrowserIdentity | null> {
  const user = await ctx.auth.getUserIdentity();
  if (user === null) return null;
  const personProperties = typeof user.personProperties === "string" ? (JSON.parse(user.personProperties) as Record<string, unknown>) : {};
  return { distinctId: user.subject, personProperties };
}

// keys "all": the bench names its flags by generated key; the webhook secret is
// POSTHOG_WEBHOOK_SECRET, as the README recommends.
export const { flags, flag, refreshHook } = posthog.exposeApi({ identify: fromAuth, keys: "all" });

async function readsSince(ctx: QueryCtx, before: Awaited<ReturnType<QueryCtx["meta"]["getTransactionMetrics"]>>) {
  const after = await ctx.meta.getTransactionMetrics();
  return {
    documentsRead: after.documentsRead.used - before.documentsRead.used,
    bytesRead: after.bytesRead.used - before.bytesRead.used,
    indexRanges: after.databaseQueries.used - before.databaseQueries.used,
  };
}

/** The `flags` query for these keys, run nested so its reads are this transaction's. */
export const flagsReadCost = query({
  args: { keys: v.array(v.string()) },
  handler: async (ctx, { keys }) => {
    const before = await ctx.meta.getTransactionMetrics();
    const answer: BrowserFlags = await ctx.runQuery(api.browserFlags.flags, { keys });
    const reads = await readsSince(ctx, before);
    return { answered: Object.keys(answer.reasons).length, values: JSON.stringify(answer.featureFlags), ...reads };
  },
});

/** The `flag` query for one key, run nested. */
export const flagReadCost = query({
  args: { key: v.string() },
  handler: async (ctx, { key }) => {
    const before = await ctx.meta.getTransactionMetrics();
    const answer: BrowserFlagResult = await ctx.runQuery(api.browserFlags.flag, { key });
    const reads = await readsSince(ctx, before);
    return { answered: 1, values: JSON.stringify(answer.value === undefined ? {} : { [key]: answer.value }), ...reads };
  },
});

/** getAllFlags for the signed-in user: every flag's definition read (the baseline row); `answered` counts the decided flags it returns. */
export const allFlagsReadCost = query({
  args: {},
  handler: async (ctx) => {
    const identity = await fromAuth(ctx);
    if (identity === null) throw new Error("allFlagsReadCost: sign in first (withIdentity)");
    const before = await ctx.meta.getTransactionMetrics();
    const values = await posthog.getAllFlags(ctx, identity);
    const reads = await readsSince(ctx, before);
    return { answered: Object.keys(values).length, values: JSON.stringify(values), ...reads };
  },
});
