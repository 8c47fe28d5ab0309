import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export default defineSchema({
  orders: defineTable({ item: v.string() }),
  /** What a function saw of its own scheduled job (real-Convex test mode tests). */
  observations: defineTable({ observer: v.string(), state: v.string() }),
});
