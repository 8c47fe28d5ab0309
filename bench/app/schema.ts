import { defineSchema } from "convex/server";

// The bench app keeps no data of its own: only the components' tables are used.
export default defineSchema({});
