// The guardian's local source end to end: captures stamped with flag values go through the
// real outbox to the local PostHog-compatible server, and what PostHog accepted is tallied.
import { describe, expect, test } from "vitest";
import { api } from "../../testing/app/_generated/api.js";
import { flushAndDrain, initRefreshedApp, initTestApp, useLocalPostHog } from "../../testing/setup.js";
import componentSchema from "../schema.js";
import type { MutationCtx } from "../_generated/server.js";
import type { FlagWindowMetrics } from "./tallies.js";
import { tallyMessages, type TallyWatch } from "../../core/governance/tally.js";

const TOKEN = "phc_tallies";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_tallies" });
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const definitions = {
  flags: [
    { id: 1, key: "checkout", active: true, filters: { groups: [{ properties: [], rollout_percentage: 50 }] } },
    {
      id: 2,
      key: "layout",
      active: true,
      filters: {
        groups: [{ properties: [], rollout_percentage: 100 }],
        multivariate: { variants: [{ key: "control", rollout_percentage: 50 }, { key: "wide", rollout_percentage: 50 }] },
      },
    },
    { id: 3, key: "other", active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } },
  ],
  group_type_mapping: {},
  cohorts: {},
};
/** No slot deliveries and no retries on their own during a test: only the flushes it runs. */
const QUIET = { flushDelayMs: 60_000, retryInitialDelayMs: 60_000, retryMaxDelayMs: 60_000 };
const WATCH = {
  flags: [
    { key: "checkout", mode: "monitor" as const },
    { key: "layout", mode: "enforce" as const },
  ],
  successEvent: { event: "order placed", property: "paid" },
  bucketMs: MINUTE,
  retainMs: HOUR,
};

type T = ReturnType<typeof initTestApp>;
/** convex-test reaches the component's internal functions and tables by path (untyped there). */
type ComponentAccess = {
  mutationFromPath(path: { componentPath: string; udfPath: string }, args: unknown): Promise<unknown>;
  queryFromPath(path: { componentPath: string; udfPath: string }, args: unknown): Promise<unknown>;
  runInComponent<R>(componentPath: string, handler: (ctx: MutationCtx) => Promise<R>): Promise<R>;
};
const access = (t: T) => t as unknown as ComponentAccess;
const at = (udfPath: string) => ({ componentPath: "posthog", udfPath });
const watch = async (t: T, args: unknown) => (await access(t).mutationFromPath(at("governance/tallies:watch"), args)) as boolean;
const trackUsage = async (t: T, on: boolean) => (await access(t).mutationFromPath(at("governance/tallies:trackUsage"), { on })) as boolean;
const metrics = async (t: T, keys: string[]) =>
  (await access(t).queryFromPath(at("governance/tallies:windowMetrics"), { keys, from: 0, to: Date.now() + HOUR })) as FlagWindowMetrics[];
const usage = async (t: T, keys: string[]) =>
  (await access(t).queryFromPath(at("governance/tallies:usage"), { keys })) as { key: string; lastExposureAt: number | null }[];
const inComponent = <R>(t: T, handler: (ctx: MutationCtx) => Promise<R>) => access(t).runInComponent("posthog", handler);

const capture = (t: T, distinctId: string, event: string, properties?: Record<string, unknown>) =>
  t.mutation(api.tallies.captureStamped, { distinctId, event, options: QUIET, ...(properties ? { propertiesJson: JSON.stringify(properties) } : {}) });
const flush = (t: T) => t.action(api.events.flush, { options: QUIET });
const totalEvents = (flag: FlagWindowMetrics) => flag.variants.reduce((n, variant) => n + variant.events, 0);

/** What the events PostHog received say, computed the other way: from the server's copy. */
function expectedFromServer(key: string) {
  const byVariant = new Map<string, { variant: string; events: number; exceptions: number; successTotal: number; successes: number; users: Set<string> }>();
  for (const event of server.events()) {
    const value = event.properties[`$feature/${key}`];
    if (event.event === "$feature_flag_called" || value === undefined) continue;
    const variant = String(value);
    const sum = byVariant.get(variant) ?? { variant, events: 0, exceptions: 0, successTotal: 0, successes: 0, users: new Set<string>() };
    byVariant.set(variant, sum);
    sum.events++;
    if (event.event === "$exception") sum.exceptions++;
    if (event.event === "order placed") {
      sum.successTotal++;
      if (event.properties.paid === true) sum.successes++;
    }
    sum.users.add(event.distinct_id);
  }
  return [...byVariant.values()]
    .map(({ users, ...sum }) => ({ ...sum, uniqueUsers: users.size, usersCapped: false }))
    .sort((a, b) => a.variant.localeCompare(b.variant));
}

describe("tallies", () => {
  test("delivered events stamped with flags are counted per variant: events, exceptions, successes, unique users", async () => {
    server.setDefinitions(definitions, { token: TOKEN });
    const t = await initRefreshedApp();
    expect(await watch(t, WATCH)).toBe(true);
    for (let i = 0; i < 20; i++) {
      const user = `user-${i}`;
      await capture(t, user, "page viewed");
      if (i % 3 === 0) await capture(t, user, "order placed", { paid: i % 2 === 0 });
      if (i % 4 === 0) await t.mutation(api.tallies.exceptionStamped, { distinctId: user, message: "boom", options: QUIET });
    }
    await capture(t, "user-0", "page viewed"); // a returning user counts once
    await flushAndDrain(t);

    const [checkout, layout] = await metrics(t, ["checkout", "layout"]);
    expect(checkout!.variants).toEqual(expectedFromServer("checkout"));
    expect(layout!.variants).toEqual(expectedFromServer("layout"));
    // Both arms are there, and every delivered event is in one of them.
    expect(checkout!.variants.map((v) => v.variant)).toEqual(["false", "true"]);
    expect(layout!.variants.map((v) => v.variant)).toEqual(["control", "wide"]);
    expect(totalEvents(checkout!)).toBe(server.events().length);
    expect(checkout!.variants.reduce((n, v) => n + v.uniqueUsers, 0)).toBe(20);
    expect(checkout!.variants.reduce((n, v) => n + v.exceptions, 0)).toBe(5);
    expect(checkout!.variants.reduce((n, v) => n + v.successTotal, 0)).toBe(7);
    expect(checkout!.variants.reduce((n, v) => n + v.successes, 0)).toBe(4);
    // An unwatched flag is not tallied.
    expect(await metrics(t, ["other"])).toEqual([{ key: "other", variants: [] }]);
  });

  test("events refused or still retrying are not counted until delivered; a retry delivered later counts once", async () => {
    server.setDefinitions(definitions, { token: TOKEN });
    const t = await initRefreshedApp();
    await watch(t, WATCH);
    server.addFaults({ path: "/batch/", status: 503, times: 1 });
    for (const user of ["a", "b", "c"]) await capture(t, user, "page viewed");
    expect(await flush(t)).toEqual({ delivered: 0, retrying: 3, deadLettered: 0 });
    expect(await metrics(t, ["checkout"])).toEqual([{ key: "checkout", variants: [] }]);

    expect(await flush(t)).toEqual({ delivered: 3, retrying: 0, deadLettered: 0 });
    expect(totalEvents((await metrics(t, ["checkout"]))[0]!)).toBe(3);
    expect(await flush(t)).toEqual({ delivered: 0, retrying: 0, deadLettered: 0 });
    expect(totalEvents((await metrics(t, ["checkout"]))[0]!)).toBe(3);

    server.addFaults({ path: "/batch/", status: 400, body: "bad request", times: 1 });
    for (const user of ["d", "e"]) await capture(t, user, "page viewed");
    expect(await flush(t)).toEqual({ delivered: 0, retrying: 0, deadLettered: 2 });
    expect(totalEvents((await metrics(t, ["checkout"]))[0]!)).toBe(3);

    await t.mutation(api.events.resendDeadLetters, { options: QUIET });
    expect(await flush(t)).toEqual({ delivered: 2, retrying: 0, deadLettered: 0 });
    const [checkout] = await metrics(t, ["checkout"]);
    expect(totalEvents(checkout!)).toBe(5);
    expect(checkout!.variants).toEqual(expectedFromServer("checkout"));
  });

  test("an event another sender already delivered (after a lease lapse) is not counted twice", async () => {
    server.setDefinitions(definitions, { token: TOKEN });
    const t = await initRefreshedApp();
    await watch(t, WATCH);
    for (const user of ["a", "b", "c"]) await capture(t, user, "page viewed");
    const leaseId = await access(t).mutationFromPath(at("delivery:acquireLease"), { options: QUIET });
    const claim = (await access(t).mutationFromPath(at("delivery:claimBatch"), {
      leaseId,
      options: QUIET,
      scope: "all",
      runStartedAt: Date.now(),
    })) as { events: { id: string; message: string }[]; watch: TallyWatch };
    expect(claim.events.length).toBe(3);
    const delivered = (events: { id: string; message: string }[]) => ({
      ids: events.map((e) => e.id),
      outcome: "delivered",
      tally: tallyMessages(events.map((e) => e.message), claim.watch),
    });
    const complete = (events: { id: string; message: string }[]) =>
      access(t).mutationFromPath(at("delivery:completeBatch"), { leaseId, options: QUIET, results: [delivered(events)], watch: claim.watch });
    // Another sender's completeBatch deletes and counts the first event; ours then reports all three.
    await complete(claim.events.slice(0, 1));
    await complete(claim.events);

    const [checkout] = await metrics(t, ["checkout"]);
    expect(totalEvents(checkout!)).toBe(3);
    expect(checkout!.variants.reduce((n, v) => n + v.uniqueUsers, 0)).toBe(3);
    expect(await inComponent(t, async (ctx) => (await ctx.db.query("events").collect()).length)).toBe(0);
  });

  test("$feature_flag_called is not counted as an event but records usage, at most once an hour per flag", async () => {
    server.setDefinitions(definitions, { token: TOKEN });
    const t = await initRefreshedApp();
    await watch(t, WATCH);
    expect(await trackUsage(t, true)).toBe(true);
    expect(await trackUsage(t, true)).toBe(false);
    await t.mutation(api.tallies.readFlagInMutation, { key: "checkout", distinctId: "u1", options: QUIET });
    await t.mutation(api.tallies.readFlagInMutation, { key: "checkout", distinctId: "u2", options: QUIET });
    await capture(t, "u1", "page viewed");
    await flushAndDrain(t);

    const exposures = server.events().filter((e) => e.event === "$feature_flag_called");
    expect(exposures).toHaveLength(2);
    const last = Math.max(...exposures.map((e) => Date.parse(e.timestamp)));
    expect(await usage(t, ["checkout", "layout"])).toEqual([
      { key: "checkout", lastExposureAt: last },
      { key: "layout", lastExposureAt: null },
    ]);
    expect(totalEvents((await metrics(t, ["checkout"]))[0]!)).toBe(1);

    // Within the hour, a later exposure does not rewrite the row.
    await t.mutation(api.tallies.readFlagInMutation, { key: "checkout", distinctId: "u3", options: QUIET });
    await flushAndDrain(t);
    expect(server.events().filter((e) => e.event === "$feature_flag_called")).toHaveLength(3);
    expect(await usage(t, ["checkout"])).toEqual([{ key: "checkout", lastExposureAt: last }]);

    // With usage off, exposures are not recorded.
    expect(await trackUsage(t, false)).toBe(true);
    await t.mutation(api.tallies.readFlagInMutation, { key: "layout", distinctId: "u1", options: QUIET });
    await flushAndDrain(t);
    expect(await usage(t, ["layout"])).toEqual([{ key: "layout", lastExposureAt: null }]);
  });

  test("kicks delete buckets past retention, a bounded number each", async () => {
    const t = initTestApp();
    await watch(t, { ...WATCH, retainMs: 10 * MINUTE });
    const now = Date.now();
    const recent = Math.floor(now / MINUTE) * MINUTE - 5 * MINUTE;
    const old = Math.floor(now / MINUTE) * MINUTE - 20 * MINUTE;
    const row = { key: "checkout", variant: "true", events: 1, exceptions: 0, successTotal: 0, successes: 0, users: [], usersCapped: false };
    await inComponent(t, async (ctx) => {
      await ctx.db.insert("guardianTallies", { ...row, bucketStart: recent });
      for (let i = 0; i < 250; i++) await ctx.db.insert("guardianTallies", { ...row, bucketStart: old - i * MINUTE });
    });
    const buckets = () => inComponent(t, async (ctx) => (await ctx.db.query("guardianTallies").collect()).map((r) => r.bucketStart));

    await access(t).mutationFromPath(at("delivery:kick"), { options: QUIET });
    expect(await buckets()).toHaveLength(51);
    await access(t).mutationFromPath(at("delivery:kick"), { options: QUIET });
    expect(await buckets()).toEqual([recent]);
  });

  test("watch writes the singleton only when its configuration changes, and keeps usage", async () => {
    const t = initTestApp();
    const row = () => inComponent(t, async (ctx) => await ctx.db.query("guardianWatch").first());
    expect(await watch(t, WATCH)).toBe(true);
    expect(await trackUsage(t, true)).toBe(true);
    const first = await row();
    expect(await watch(t, { ...WATCH, flags: [...WATCH.flags].reverse() })).toBe(false);
    expect(await row()).toEqual(first);

    expect(await watch(t, { ...WATCH, flags: [{ key: "checkout", mode: "enforce" }] })).toBe(true);
    const changed = await row();
    expect(changed).toMatchObject({ _id: first!._id, flags: [{ key: "checkout", mode: "enforce" }], usage: true });
    expect(changed!.hash).not.toBe(first!.hash);
    await expect(watch(t, { ...WATCH, bucketMs: 0 })).rejects.toThrow(/bucketMs/);
  });

  test("without a watch, or with nothing to watch, delivery tallies nothing", async () => {
    server.setDefinitions(definitions, { token: TOKEN });
    const t = await initRefreshedApp();
    const written = () =>
      inComponent(t, async (ctx) => ({
        tallies: (await ctx.db.query("guardianTallies").collect()).length,
        usage: (await ctx.db.query("flagUsage").collect()).length,
      }));
    await capture(t, "u1", "page viewed");
    await t.mutation(api.tallies.readFlagInMutation, { key: "checkout", distinctId: "u1", options: QUIET });
    await flushAndDrain(t);
    expect(server.events()).toHaveLength(2);
    expect(await written()).toEqual({ tallies: 0, usage: 0 });

    await watch(t, { ...WATCH, flags: [] });
    await capture(t, "u2", "page viewed");
    await t.mutation(api.tallies.readFlagInMutation, { key: "checkout", distinctId: "u2", options: QUIET });
    await flushAndDrain(t);
    expect(server.events()).toHaveLength(4);
    expect(await written()).toEqual({ tallies: 0, usage: 0 });
  });

  test("a capture writes exactly the same documents with tallies on as off", async () => {
    server.setDefinitions(definitions, { token: TOKEN });
    /** Every component row the capture created or changed, without ids and times. */
    async function captureWrites(tallies: boolean) {
      const t = await initRefreshedApp();
      if (tallies) {
        await watch(t, WATCH);
        await trackUsage(t, true);
      }
      await capture(t, "warm-up", "page viewed"); // the slot's trigger exists from here on
      const snapshot = () =>
        inComponent(t, async (ctx) => {
          const rows = new Map<string, { table: string; doc: string }>();
          for (const table of Object.keys(componentSchema.tables) as (keyof typeof componentSchema.tables)[]) {
            for (const doc of await ctx.db.query(table).collect()) rows.set(doc._id, { table, doc: JSON.stringify(doc) });
          }
          return [...rows];
        });
      const before = new Map(await snapshot());
      await capture(t, "u1", "order placed", { paid: true });
      const after = new Map(await snapshot());
      const written: string[] = [];
      for (const [id, row] of after) {
        if (before.get(id)?.doc === row.doc) continue;
        const { _id, _creationTime, body, nextAttemptAt, uuid, ...doc } = JSON.parse(row.doc); // fresh per capture
        const message = doc.message ? JSON.parse(doc.message) : undefined;
        written.push(`${row.table} ${JSON.stringify(message ? { event: message.event, properties: message.properties } : doc)}`);
      }
      expect([...before.keys()].every((id) => after.has(id))).toBe(true);
      return written.sort();
    }
    const off = await captureWrites(false);
    const on = await captureWrites(true);
    expect(off).toHaveLength(2); // the outbox row and its body
    expect(on).toEqual(off);
  });
});
