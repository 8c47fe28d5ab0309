// The kill list in the definitionsMeta row: every evaluation reads that row already, so adding
// a key turns the flag off (reason "killed") in every query at once, and refreshes keep it.
// Shared by the local kill switch (killSwitch.ts) and the guardian's enforcement
// (governance/enforcement.ts).
import type { MutationCtx } from "./_generated/server.js";

export interface KillEntry {
  key: string;
  reason?: string;
  at: number;
}

/**
 * Put a flag on the kill list and return its entry. A flag already on it gets the new reason
 * and time, unless `keepFirst` (enforcement: the first kill's time is the one that counts).
 */
export async function addToKillList(
  ctx: MutationCtx,
  key: string,
  reason: string | undefined,
  options: { keepFirst?: boolean } = {},
): Promise<{ entry: KillEntry; wasKilled: boolean }> {
  const entry: KillEntry = { key, ...(reason !== undefined ? { reason } : {}), at: Date.now() };
  const meta = await ctx.db.query("definitionsMeta").first();
  if (meta === null) {
    // No definitions yet: a row that holds only the kill list; the first refresh fills it in.
    await ctx.db.insert("definitionsMeta", { groupTypeMapping: "{}", available: false, definitionsLoaded: false, killed: [entry] });
    return { entry, wasKilled: false };
  }
  const killed = meta.killed ?? [];
  const existing = killed.find((kill) => kill.key === key);
  if (existing !== undefined && options.keepFirst) return { entry: existing, wasKilled: true };
  await ctx.db.patch(meta._id, { killed: [...killed.filter((kill) => kill.key !== key), entry] });
  return { entry, wasKilled: existing !== undefined };
}

/** Take a flag off the kill list. Returns whether it was on it. */
export async function removeFromKillList(ctx: MutationCtx, key: string): Promise<boolean> {
  const meta = await ctx.db.query("definitionsMeta").first();
  const killed = meta?.killed ?? [];
  if (meta === null || !killed.some((kill) => kill.key === key)) return false;
  await ctx.db.patch(meta._id, { killed: killed.filter((kill) => kill.key !== key) });
  return true;
}
