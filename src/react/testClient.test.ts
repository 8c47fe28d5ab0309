/** @vitest-environment jsdom */
// The convex-test React client itself: useQuery through it runs the real functions and
// re-renders when a watched query's answer changes.
import { act, renderHook, waitFor } from "@testing-library/react";
import { ConvexProvider, useMutation, useQuery, type ConvexReactClient } from "convex/react";
import { createElement, type ReactNode } from "react";
import { beforeEach, describe, expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { ConvexTestReactClient } from "../testing/convexTestReactClient.js";
import { initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_react_client";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_react_client" });
const flag = (rollout: number) => ({
  flags: [{ id: 1, key: "beta", active: true, filters: { groups: [{ properties: [], rollout_percentage: rollout }] } }],
  group_type_mapping: {},
  cohorts: {},
});
beforeEach(() => server.setDefinitions(flag(100), { token: TOKEN }));

function mount(client: ConvexTestReactClient) {
  const wrapper = ({ children }: { children: ReactNode }) =>
    createElement(ConvexProvider, { client: client as unknown as ConvexReactClient }, children);
  return <T>(hook: () => T) => renderHook(hook, { wrapper });
}

describe("ConvexTestReactClient", () => {
  test("useQuery is undefined until the real query answered, then re-renders when refresh() finds a new answer", async () => {
    const t = initTestApp();
    await t.action(api.flags.refresh, {});
    const client = new ConvexTestReactClient(t);
    const { result } = mount(client)(() => useQuery(api.flags.readFlag, { key: "beta", context: JSON.stringify({ distinctId: "u1" }) }));
    expect(result.current).toBeUndefined();
    await waitFor(() => expect(result.current?.value).toBe(true));

    server.setDefinitions(flag(0), { token: TOKEN });
    await t.action(api.flags.refresh, {});
    expect(result.current?.value).toBe(true); // nothing told the client yet
    await act(() => client.refresh());
    expect(result.current?.value).toBe(false);
  });

  test("an action sent through the client re-runs the watched queries; an unchanged answer renders nothing new", async () => {
    const t = initTestApp();
    await t.action(api.flags.refresh, {});
    const client = new ConvexTestReactClient(t);
    let renders = 0;
    const { result } = mount(client)(() => {
      renders++;
      return { answer: useQuery(api.flags.readFlag, { key: "beta", context: JSON.stringify({ distinctId: "u1" }) }), flag: useMutation(api.flags.flagInMutation) };
    });
    await waitFor(() => expect(result.current.answer?.value).toBe(true));
    const settled = renders;
    await act(() => client.refresh());
    expect(renders).toBe(settled);

    server.setDefinitions(flag(0), { token: TOKEN });
    await act(() => client.action(api.flags.refresh, {}));
    expect(result.current.answer?.value).toBe(false);
    expect(await act(() => result.current.flag({ key: "beta", distinctId: "u1" }))).toBe(false);
    expect(client.callsTo("flags:flagInMutation")).toEqual([{ kind: "mutation", name: "flags:flagInMutation", args: { key: "beta", distinctId: "u1" } }]);
  });
});
