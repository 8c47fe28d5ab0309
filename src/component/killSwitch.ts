// The local kill switch: a killed flag evaluates to false at once (reason "killed"), in every
// query that reads it, whatever its definition says, until the kill is cleared. The list lives
// in the definitionsMeta row, which every evaluation reads already, and refreshes keep it.
import { v } from "convex/values";
import { mutation, query } from "./_generated/server.js";
import { PostHogInputError } from "../core/messages.js";

const vKill = v.object({ key: v.string(), reason: v.optional(v.string()), at: v.number() });

/** Kill a flag (again: the reason and time are replaced). Works before any refresh too. */
export const kill = mutation({
  args: { key: v.string(), reason: v.optional(v.string()) },
  returns: v.null(),
  handler: async (ctx, { key, reason }) => {
    if (key === "") throw new PostHogInputError("key", "disabling a flag needs its key");
    const entry = { key, ...(reason !== undefined ? { reason } : {}), at: Date.now() };
    const meta = await ctx.db.query("definitionsMeta").first();
    if (meta === null) {
      // No definitions yet: a row that holds only the kill list; the first refresh fills it in.
      await ctx.db.insert("definitionsMeta", { groupTypeMapping: "{}", available: false, definitionsLoaded: false, killed: [entry] });
      return null;
    }
    const others = (meta.killed ?? []).filter((kill) => kill.key !== key);
    await ctx.db.patch(meta._id, { killed: [...others, entry] });
    return null;
  },
});

/** Clear a flag's kill: it evaluates from its definition again. Returns whether it was killed. */
export const clear = mutation({
  args: { key: v.string() },
  returns: v.boolean(),
  handler: async (ctx, { key }) => {
    const meta = await ctx.db.query("definitionsMeta").first();
    const killed = meta?.killed ?? [];
    if (meta === null || !killed.some((kill) => kill.key === key)) return false;
    await ctx.db.patch(meta._id, { killed: killed.filter((kill) => kill.key !== key) });
    return true;
  },
});

/** The killed flags, oldest kill first. */
export const list = query({
  args: {},
  returns: v.array(vKill),
  handler: async (ctx) => (await ctx.db.query("definitionsMeta").first())?.killed ?? [],
});
