// The capture-cost bench's event, "page viewed": its properties and a taxonomy that declares
// every non-`$` one of them (and the bench's index `i`), so a typed capture of it is validated
// and passes. Shared by the bench app's typed client (bench/app/captureCost.ts) and the
// plain-Node loop of `taxonomy.check` (bench/taxonomyCheck.ts).
import { v } from "convex/values";
import { defineEvents } from "../src/core/eventTaxonomy.js";

/** A typical server-side event: a dozen properties, about 400 bytes once encoded. */
export const PAGE_VIEWED_PROPERTIES = {
  path: "/pricing/enterprise",
  referrer: "https://www.example.com/blog/launch-week",
  plan: "team",
  seats: 25,
  trial: false,
  experiment_group: "b",
  $current_url: "https://app.example.com/pricing/enterprise",
  $browser: "Firefox",
  $os: "Mac OS X",
  utm_source: "newsletter",
  utm_campaign: "spring",
  load_ms: 812,
};

export const pageViewedEvents = defineEvents({
  events: {
    "page viewed": {
      properties: {
        path: v.string(),
        referrer: v.string(),
        plan: v.string(),
        seats: v.number(),
        trial: v.boolean(),
        experiment_group: v.string(),
        utm_source: v.string(),
        utm_campaign: v.string(),
        load_ms: v.number(),
        /** The capture's index within its mutation. */
        i: v.number(),
      },
    },
  },
});
