/** @vitest-environment jsdom */
// convex-posthog/react in a browser-like DOM, through a Convex client whose queries and
// mutations run the app's real exposed functions (src/testing/app/posthogApi.ts) in
// convex-test, with the component evaluating flags from the local PostHog server's definitions.
import { act, renderHook, waitFor } from "@testing-library/react";
import { ConvexProvider, type ConvexReactClient } from "convex/react";
import { StrictMode, createElement, type ReactNode } from "react";
import { beforeEach, describe, expect, expectTypeOf, test } from "vitest";
import type { JsonType } from "../client/index.js";
import { api } from "../testing/app/_generated/api.js";
import { ConvexTestReactClient } from "../testing/convexTestReactClient.js";
import { flushAndDrain, initTestApp, useLocalPostHog } from "../testing/setup.js";
import { toBootstrap, useFeatureFlag, useFeatureFlags, usePostHogFlagSync, type PostHogFlagTarget } from "./index.js";

const TOKEN = "phc_react_hooks";
const WEBHOOK_SECRET = "whsec_react_hooks";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_react_hooks", POSTHOG_WEBHOOK_SECRET: WEBHOOK_SECRET });
const everyone = { groups: [{ properties: [], rollout_percentage: 100 }] };
function definitions({ searchRollout = 100, variant = "blue" }: { searchRollout?: number; variant?: "control" | "blue" } = {}) {
  return {
    flags: [
      {
        id: 1,
        key: "experiment_checkout_button",
        active: true,
        filters: {
          ...everyone,
          multivariate: { variants: [{ key: "control", rollout_percentage: variant === "control" ? 100 : 0 }, { key: "blue", rollout_percentage: variant === "blue" ? 100 : 0 }] },
          payloads: { control: '{"color":"grey"}', blue: '{"color":"blue"}' },
        },
      },
      { id: 2, key: "release_search_v2", active: true, filters: { groups: [{ properties: [], rollout_percentage: searchRollout }], payloads: { true: '{"limit":10}' } } },
      { id: 3, key: "tier_search_pro", active: true, filters: { groups: [{ properties: [{ key: "plan", type: "person", value: "pro" }], rollout_percentage: 100 }] } },
      { id: 4, key: "site_theme", active: true, filters: { ...everyone, payloads: { true: '{"$theme":"dark","prix€":1}' } } },
    ],
    group_type_mapping: {},
    cohorts: {},
  };
}
beforeEach(() => server.setDefinitions(definitions(), { token: TOKEN }));

type T = ReturnType<typeof initTestApp>;
const USER = { subject: "user-1", plan: "pro" };

/** The test app with definitions loaded, and a React client signed in as USER. */
async function app(): Promise<{ t: T; client: ConvexTestReactClient }> {
  const t = initTestApp();
  await t.action(api.flags.refresh, {});
  return { t, client: new ConvexTestReactClient(t.withIdentity(USER)) };
}

/** ConvexProvider over `client`, in StrictMode (effects run twice on mount, as in development). */
function wrapperFor(client: ConvexTestReactClient) {
  return ({ children }: { children: ReactNode }) =>
    createElement(StrictMode, null, createElement(ConvexProvider, { client: client as unknown as ConvexReactClient }, children));
}

function mount<Result>(client: ConvexTestReactClient, hook: () => Result) {
  return renderHook(hook, { wrapper: wrapperFor(client) });
}

/** As mount, for a hook that takes a prop (undefined on the first render). */
function renderWithProps<Props, Result>(client: ConvexTestReactClient, hook: (props: Props | undefined) => Result) {
  return renderHook(hook, { wrapper: wrapperFor(client), initialProps: undefined });
}

/** New definitions on the local server, then the app's refresh action sent through the client (which re-runs watched queries). */
async function changeDefinitions(client: ConvexTestReactClient, next: ReturnType<typeof definitions>) {
  server.setDefinitions(next, { token: TOKEN });
  await act(async () => {
    await client.action(api.flags.refresh, {});
  });
}

const exposuresSent = (client: ConvexTestReactClient) => client.callsTo("posthogApi:reportExposure");
async function flagCalls(t: T) {
  await flushAndDrain(t);
  return server.events(TOKEN).filter((event) => event.event === "$feature_flag_called");
}

describe("useFeatureFlag", () => {
  test("is loading, then shows the server's value, variant and decoded payload", async () => {
    const { client } = await app();
    const { result } = mount(client, () => useFeatureFlag(api.posthogApi, "experiment_checkout_button", { exposure: "none" }));
    expect(result.current).toMatchObject({ loading: true, value: undefined, payload: undefined, result: undefined });
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current.value).toBe("blue");
    expect(result.current.payload).toEqual({ color: "blue" });
    expect(result.current.result).toMatchObject({ key: "experiment_checkout_button", value: "blue", variant: "blue", enabled: true, payload: { color: "blue" } });
  });

  test('"on-read" reports one exposure per (key, value) while mounted, and again when the value changes', async () => {
    const { t, client } = await app();
    const { result, rerender } = mount(client, () => useFeatureFlag(api.posthogApi, "release_search_v2"));
    await waitFor(() => expect(result.current.value).toBe(true));
    await waitFor(() => expect(exposuresSent(client)).toHaveLength(1));
    rerender();
    rerender();
    await act(() => client.refresh());
    expect(exposuresSent(client)).toEqual([{ kind: "mutation", name: "posthogApi:reportExposure", args: { key: "release_search_v2" } }]);
    const first = await flagCalls(t);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ distinct_id: "user-1", properties: { $feature_flag: "release_search_v2", $feature_flag_response: true } });

    // The flag is turned off on the server: the mounted hook re-renders and reports the new value once.
    await changeDefinitions(client, definitions({ searchRollout: 0 }));
    await waitFor(() => expect(result.current.value).toBe(false));
    await waitFor(() => expect(exposuresSent(client)).toHaveLength(2));
    rerender();

    // Back on: this hook already reported `true`, so nothing more is sent.
    await changeDefinitions(client, definitions());
    await waitFor(() => expect(result.current.value).toBe(true));
    await act(() => client.refresh());
    expect(exposuresSent(client)).toHaveLength(2);
    const calls = await flagCalls(t);
    expect(calls.map((event) => event.properties.$feature_flag_response)).toEqual([true, false]);
  });

  test('"manual" reports only when reportExposure() is called', async () => {
    const { t, client } = await app();
    const { result } = mount(client, () => useFeatureFlag(api.posthogApi, "tier_search_pro", { exposure: "manual" }));
    await waitFor(() => expect(result.current.value).toBe(true));
    await act(() => client.refresh());
    expect(exposuresSent(client)).toHaveLength(0);
    expect(await flagCalls(t)).toHaveLength(0);

    await act(() => result.current.reportExposure());
    expect(exposuresSent(client)).toHaveLength(1);
    const calls = await flagCalls(t);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ distinct_id: "user-1", properties: { $feature_flag: "tier_search_pro", $feature_flag_response: true } });
  });

  test('"none" never reports, not even when the value changes', async () => {
    const { t, client } = await app();
    const { result } = mount(client, () => useFeatureFlag(api.posthogApi, "experiment_checkout_button", { exposure: "none" }));
    await waitFor(() => expect(result.current.value).toBe("blue"));
    await changeDefinitions(client, definitions({ variant: "control" }));
    await waitFor(() => expect(result.current.value).toBe("control"));
    expect(result.current.payload).toEqual({ color: "grey" });
    expect(exposuresSent(client)).toHaveLength(0);
    expect(await flagCalls(t)).toHaveLength(0);
  });

  test("a signed-out visitor reads flags with the anonymous id, and their exposure carries it", async () => {
    const { t } = await app();
    const client = new ConvexTestReactClient(t);
    const { result } = mount(client, () => useFeatureFlag(api.posthogApi, "release_search_v2", { anonymousId: "anon-7" }));
    await waitFor(() => expect(result.current.value).toBe(true));
    await waitFor(() => expect(exposuresSent(client)).toHaveLength(1));
    expect(exposuresSent(client)[0]!.args).toEqual({ key: "release_search_v2", anonymousId: "anon-7" });
    const calls = await flagCalls(t);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.distinct_id).toBe("anon-7");
  });
});

describe("nobody identified, anonymous ids denied", () => {
  const strict = { flag: api.posthogApi.strictFlag, reportExposure: api.posthogApi.strictReportExposure };

  test('"on-read" reports nothing for an undecided flag; reportExposure() rejects with the server\'s reason', async () => {
    const { t } = await app();
    const client = new ConvexTestReactClient(t);
    const { result } = mount(client, () => useFeatureFlag(strict, "release_search_v2", { anonymousId: "anon-1" }));
    await waitFor(() => expect(result.current.loading).toBe(false));
    expect(result.current).toMatchObject({ value: undefined, payload: null, result: { enabled: false, reason: "no_identity" } });
    await act(() => client.refresh());
    expect(client.callsTo("posthogApi:strictReportExposure")).toHaveLength(0);

    await expect(act(() => result.current.reportExposure())).rejects.toThrow(/identif|anonymous/i);
    expect(await flagCalls(t)).toHaveLength(0);
  });
});

describe("a flag edited in PostHog reaches a mounted hook through the webhook", () => {
  const webhook = (t: T, secret: string) =>
    t.fetch("/posthog/flags-changed", { method: "POST", headers: { authorization: `Bearer ${secret}` }, body: "{}" });

  test("no cron: the webhook refreshes the definitions and the subscribed hook re-renders with the new variant", async () => {
    const { t, client } = await app();
    const { result } = mount(client, () => useFeatureFlag(api.posthogApi, "experiment_checkout_button", { exposure: "none" }));
    await waitFor(() => expect(result.current.value).toBe("blue"));
    server.setDefinitions(definitions({ variant: "control" }), { token: TOKEN });

    // A wrong secret changes nothing.
    expect((await webhook(t, "wrong")).status).toBe(401);
    await act(() => client.refresh());
    expect(result.current.value).toBe("blue");

    expect((await webhook(t, WEBHOOK_SECRET)).status).toBe(200);
    // convex-test has no subscriptions: re-run the watched queries as the deployment would push them.
    await act(() => client.refresh());
    expect(result.current.value).toBe("control");
    expect(result.current.payload).toEqual({ color: "grey" });
  });
});

describe("useFeatureFlags", () => {
  test("is undefined while loading, then the flags answer with payloads decoded; it follows changes", async () => {
    const { client } = await app();
    const { result } = mount(client, () => useFeatureFlags(api.posthogApi, { keys: ["release_search_v2", "experiment_checkout_button"] }));
    expect(result.current).toBeUndefined();
    await waitFor(() => expect(result.current).toBeDefined());
    expect(result.current).toMatchObject({
      distinctID: "user-1",
      isIdentifiedID: true,
      featureFlags: { release_search_v2: true, experiment_checkout_button: "blue" },
      featureFlagPayloads: { release_search_v2: { limit: 10 }, experiment_checkout_button: { color: "blue" } },
    });
    expect(Object.keys(result.current!.featureFlags).sort()).toEqual(["experiment_checkout_button", "release_search_v2"]);

    await changeDefinitions(client, definitions({ searchRollout: 0 }));
    await waitFor(() => expect(result.current?.featureFlags.release_search_v2).toBe(false));
  });

  test("payloads Convex cannot carry as they are ($ and non-ASCII keys) arrive decoded", async () => {
    const { client } = await app();
    const { result } = mount(client, () => useFeatureFlags({ flags: api.posthogApi.anyFlags }, { keys: ["site_theme"] }));
    await waitFor(() => expect(result.current).toBeDefined());
    expect(result.current!.featureFlagPayloads).toEqual({ site_theme: { $theme: "dark", "prix€": 1 } });
  });
});

describe("usePostHogFlagSync", () => {
  test("hands posthog-js the live values with updateFlags, once per change", async () => {
    const { client } = await app();
    const updates: unknown[][] = [];
    const posthog: PostHogFlagTarget = { updateFlags: (...args) => void updates.push(args) };
    const { rerender } = mount(client, () => usePostHogFlagSync(api.posthogApi, posthog));
    await waitFor(() => expect(updates).toHaveLength(1));
    expect(updates[0]).toEqual([
      { experiment_checkout_button: "blue", release_search_v2: true, tier_search_pro: true },
      { experiment_checkout_button: { color: "blue" }, release_search_v2: { limit: 10 } },
    ]);
    rerender();
    await act(() => client.refresh());
    expect(updates).toHaveLength(1);

    await changeDefinitions(client, definitions({ variant: "control" }));
    await waitFor(() => expect(updates).toHaveLength(2));
    expect(updates[1]![0]).toEqual({ experiment_checkout_button: "control", release_search_v2: true, tier_search_pro: true });
    expect(updates[1]![1]).toEqual({ experiment_checkout_button: { color: "grey" }, release_search_v2: { limit: 10 } });
  });

  test("waits for posthog-js to exist, then hands it the current values", async () => {
    const { client } = await app();
    const updates: unknown[][] = [];
    const posthog: PostHogFlagTarget = { updateFlags: (...args) => void updates.push(args) };
    const { result, rerender } = renderWithProps(client, (target: PostHogFlagTarget | undefined) => {
      usePostHogFlagSync(api.posthogApi, target, { keys: ["release_search_v2"] });
      return useFeatureFlags(api.posthogApi, { keys: ["release_search_v2"] });
    });
    await waitFor(() => expect(result.current).toBeDefined());
    expect(updates).toHaveLength(0);
    rerender(posthog);
    expect(updates).toEqual([[{ release_search_v2: true }, { release_search_v2: { limit: 10 } }, { merge: true }]]);
  });

  test("with keys, merges those flags into posthog-js's others", async () => {
    const { client } = await app();
    const updates: unknown[][] = [];
    mount(client, () => usePostHogFlagSync(api.posthogApi, { updateFlags: (...args) => void updates.push(args) }, { keys: ["tier_search_pro"] }));
    await waitFor(() => expect(updates).toHaveLength(1));
    expect(updates[0]).toEqual([{ tier_search_pro: true }, {}, { merge: true }]);
  });
});

describe("toBootstrap", () => {
  test("turns the flags query's answer into posthog-js's bootstrap config, payloads decoded", async () => {
    const { t } = await app();
    const signedIn = await t.withIdentity(USER).query(api.posthogApi.anyFlags, { keys: ["site_theme", "tier_search_pro"] });
    expect(toBootstrap(signedIn)).toEqual({
      distinctID: "user-1",
      isIdentifiedID: true,
      featureFlags: { site_theme: true, tier_search_pro: true },
      featureFlagPayloads: { site_theme: { $theme: "dark", "prix€": 1 } },
    });
    const anonymous = await t.query(api.posthogApi.flags, { keys: ["release_search_v2"], anonymousId: "anon-1" });
    expect(toBootstrap(anonymous)).toEqual({
      distinctID: "anon-1",
      isIdentifiedID: false,
      featureFlags: { release_search_v2: true },
      featureFlagPayloads: { release_search_v2: { limit: 10 } },
    });
  });

  test("leaves the distinct id to posthog-js when nobody is identified", async () => {
    const { t } = await app();
    const nobody = await t.query(api.posthogApi.anyFlags, { keys: ["site_theme"], anonymousId: "anon-1" });
    expect(nobody.distinctID).toBeNull();
    expect(toBootstrap(nobody)).toEqual({ featureFlags: {}, featureFlagPayloads: {} });
  });
});

// Compile-time only: with the app's flag registry, keys, values and payloads are typed.
export function typedReads() {
  const checkout = useFeatureFlag(api.posthogApi, "experiment_checkout_button");
  expectTypeOf(checkout.value).toEqualTypeOf<"control" | "blue" | false | undefined>();
  expectTypeOf(checkout.payload).toEqualTypeOf<{ color: string } | null | undefined>();
  const search = useFeatureFlag(api.posthogApi, "release_search_v2");
  expectTypeOf(search.value).toEqualTypeOf<boolean | undefined>();
  expectTypeOf(search.payload).toEqualTypeOf<{ limit: number } | null | undefined>();
  expectTypeOf(useFeatureFlag(api.posthogApi, "tier_search_pro").payload).toEqualTypeOf<JsonType | null | undefined>();
  // @ts-expect-error not a registered flag
  useFeatureFlag(api.posthogApi, "release_search_v3");
  const all = useFeatureFlags(api.posthogApi, { keys: ["release_search_v2"] });
  expectTypeOf(all!.featureFlags.release_search_v2).toEqualTypeOf<boolean | undefined>();
  expectTypeOf(all!.featureFlagPayloads.release_search_v2).toEqualTypeOf<{ limit: number } | undefined>();
  // @ts-expect-error not a registered flag
  useFeatureFlags(api.posthogApi, { keys: ["nope"] });
}
