// The local kill switch: a killed flag evaluates to false at once (reason "killed"), in every
// query that reads it, whatever its definition says, until the kill is cleared. The list lives
// in the definitionsMeta row (killList.ts), which every evaluation reads already, and refreshes
// keep it. The guardian's enforcement (governance/enforcement.ts) kills through the same list.
import { v } from "convex/values";
import { mutation, query } from "./_generated/server.js";
import { PostHogInputError } from "../core/messages.js";
import { forgetEnforcement } from "./governance/enforcement.js";
import { addToKillList, removeFromKillList } from "./killList.js";

const vKill = v.object({ key: v.string(), reason: v.optional(v.string()), at: v.number() });

/** Kill a flag (again: the reason and time are replaced). Works before any refresh too. */
export const kill = mutation({
  args: { key: v.string(), reason: v.optional(v.string()) },
  returns: v.null(),
  handler: async (ctx, { key, reason }) => {
    if (key === "") throw new PostHogInputError("key", "disabling a flag needs its key");
    await addToKillList(ctx, key, reason);
    return null;
  },
});

/**
 * Clear a flag's kill, and what the guardian remembers about enforcing it: it evaluates from
 * its definition again. PostHog is not touched (a person re-enables a flag there). Returns
 * whether it was killed.
 */
export const clear = mutation({
  args: { key: v.string() },
  returns: v.boolean(),
  handler: async (ctx, { key }) => {
    const wasKilled = await removeFromKillList(ctx, key);
    const hadEnforcement = await forgetEnforcement(ctx, key);
    return wasKilled || hadEnforcement;
  },
});

/** The killed flags, oldest kill first. */
export const list = query({
  args: {},
  returns: v.array(vKill),
  handler: async (ctx) => (await ctx.db.query("definitionsMeta").first())?.killed ?? [],
});
