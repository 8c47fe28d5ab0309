import { afterEach, describe, expect, it, vi } from "vitest";
import { startLocalPostHog, type FaultRule } from "../local-server/server.js";
import { useLocalPostHog } from "../testing/setup.js";
import {
  fetchRemoteFlags,
  parsePayload,
  parseRemoteFlagsResponse,
  remoteFlagError,
  remoteFlagsBody,
  remoteFlagsUrl,
  type RemoteFlagsRequest,
  type RemoteFlagsResult,
} from "./remoteFlags.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

const BASE: RemoteFlagsRequest = { host: "https://ph.example", apiKey: "phc_k", distinctId: "u1" };

describe("remoteFlagsBody", () => {
  it("a plain call sends every always-present field, in posthog-node's order", () => {
    const body = remoteFlagsBody(BASE);
    expect(body).toEqual({
      token: "phc_k",
      distinct_id: "u1",
      groups: {},
      person_properties: {},
      group_properties: {},
      geoip_disable: true,
      evaluation_runtime: "server",
    });
    expect(Object.keys(body)).toEqual([
      "token",
      "distinct_id",
      "groups",
      "person_properties",
      "group_properties",
      "geoip_disable",
      "evaluation_runtime",
    ]);
  });

  it("groups get $group_key properties; caller values win; other group types are dropped", () => {
    const body = remoteFlagsBody({
      ...BASE,
      groups: { company: "acme", project: 42 },
      groupProperties: { company: { plan: "pro", $group_key: "override" }, team: { size: 3 } },
    });
    expect(body.groups).toEqual({ company: "acme", project: 42 });
    expect(body.group_properties).toEqual({
      company: { $group_key: "override", plan: "pro" },
      project: { $group_key: 42 },
    });
  });

  it("person properties go untouched, and a truthy $device_id is copied to the top level", () => {
    const personProperties = { $device_id: "dev-1", $set: { a: 1 }, email: "a@b.c" };
    const body = remoteFlagsBody({ ...BASE, personProperties });
    expect(body.person_properties).toEqual(personProperties);
    expect(body.person_properties).not.toBe(personProperties);
    expect(body.$device_id).toBe("dev-1");
    expect(Object.keys(body).slice(-2)).toEqual(["$device_id", "evaluation_runtime"]);
    expect(remoteFlagsBody({ ...BASE, personProperties: { $device_id: "" } })).not.toHaveProperty("$device_id");
  });

  it("flag keys, geoip", () => {
    expect(remoteFlagsBody({ ...BASE, flagKeys: ["a"] }).flag_keys_to_evaluate).toEqual(["a"]);
    expect(remoteFlagsBody({ ...BASE, flagKeys: [] }).flag_keys_to_evaluate).toEqual([]);
    expect(remoteFlagsBody(BASE)).not.toHaveProperty("flag_keys_to_evaluate");
    expect(remoteFlagsBody({ ...BASE, disableGeoip: false }).geoip_disable).toBe(false);
  });

  it("url: trailing slashes and whitespace trimmed, ?v=2 after a slash", () => {
    expect(remoteFlagsUrl(" https://eu.i.posthog.com// ")).toBe("https://eu.i.posthog.com/flags/?v=2");
  });
});

describe("parseRemoteFlagsResponse", () => {
  const v2 = {
    flags: {
      beta: {
        key: "beta",
        enabled: true,
        variant: null,
        reason: { code: "condition_match", condition_index: 0, description: "Matched condition set 1" },
        metadata: { id: 12, version: 3, payload: '{"a":1}', description: null, has_experiment: false },
      },
      exp: {
        key: "exp",
        enabled: true,
        variant: "test",
        reason: { code: "condition_match", condition_index: 1 },
        metadata: { id: 13, version: 1, payload: "not json", has_experiment: true },
      },
      off: {
        key: "off",
        enabled: false,
        variant: null,
        reason: { code: "no_condition_match", condition_index: null, description: "No matching condition set" },
        metadata: { id: 14, version: 2, payload: null },
      },
    },
    errorsWhileComputingFlags: false,
    requestId: "req-1",
    evaluatedAt: 1700000000000,
    minimalFlagCalledEvents: true,
  };

  it("reads a v2 body", () => {
    expect(parseRemoteFlagsResponse(v2)).toEqual({
      ok: true,
      flags: {
        beta: {
          key: "beta",
          value: true,
          enabled: true,
          variant: null,
          payload: { a: 1 },
          listsPayload: true,
          id: 12,
          version: 3,
          reason: "Matched condition set 1",
          hasExperiment: false,
        },
        exp: {
          key: "exp",
          value: "test",
          enabled: true,
          variant: "test",
          payload: "not json",
          listsPayload: true,
          id: 13,
          version: 1,
          reason: "condition_match",
          hasExperiment: true,
        },
        off: {
          key: "off",
          value: false,
          enabled: false,
          variant: null,
          payload: null,
          listsPayload: false,
          id: 14,
          version: 2,
          reason: "No matching condition set",
        },
      },
      requestId: "req-1",
      evaluatedAt: 1700000000000,
      errorsWhileComputingFlags: false,
      quotaLimited: false,
      minimalFlagCalledEvents: true,
    });
  });

  it("payload strings: JSON values, raw string when not JSON, none => null", () => {
    const payloadOf = (payload: unknown) => {
      const result = parseRemoteFlagsResponse({ flags: { f: { enabled: true, metadata: { payload } } } });
      return result.ok ? result.flags.f!.payload : "failed";
    };
    expect(payloadOf("0")).toBe(0);
    expect(payloadOf("false")).toBe(false);
    expect(payloadOf('"s"')).toBe("s");
    expect(payloadOf("[1,2]")).toEqual([1, 2]);
    expect(payloadOf("{oops")).toBe("{oops");
    expect(payloadOf("")).toBe("");
    expect(payloadOf(undefined)).toBeNull();
    expect(payloadOf(null)).toBeNull();
    expect(parsePayload({ a: 1 })).toEqual({ a: 1 });
  });

  it("quota limited on feature_flags: no flags, only the request id kept", () => {
    const result = parseRemoteFlagsResponse({ ...v2, errorsWhileComputingFlags: true, quotaLimited: ["feature_flags"] });
    expect(result).toEqual({
      ok: true,
      flags: {},
      requestId: "req-1",
      errorsWhileComputingFlags: false,
      quotaLimited: true,
      minimalFlagCalledEvents: false,
    });
    // Another limited resource does not touch flags.
    const other = parseRemoteFlagsResponse({ ...v2, quotaLimited: ["recordings"] });
    expect(other.ok && Object.keys(other.flags)).toEqual(["beta", "exp", "off"]);
    expect(other.ok && other.quotaLimited).toBe(false);
  });

  it("errorsWhileComputingFlags keeps the flags; failed entries are marked", () => {
    const result = parseRemoteFlagsResponse({
      flags: { a: { key: "a", enabled: false, variant: null, failed: true, reason: { code: "timeout" } } },
      errorsWhileComputingFlags: true,
    });
    expect(result).toMatchObject({ ok: true, errorsWhileComputingFlags: true, flags: { a: { value: false, failed: true, reason: "timeout" } } });
  });

  it("the v1 shape is normalised", () => {
    const result = parseRemoteFlagsResponse({
      featureFlags: { a: true, b: "ctl", c: false },
      featureFlagPayloads: { a: '{"x":1}', b: "0", c: '"unused"' },
      requestId: "r",
    });
    expect(result).toEqual({
      ok: true,
      flags: {
        a: { key: "a", value: true, enabled: true, variant: null, payload: { x: 1 }, listsPayload: true },
        // A falsy parsed payload is dropped when posthog-node re-encodes the v1 payload.
        b: { key: "b", value: "ctl", enabled: true, variant: "ctl", payload: null, listsPayload: false },
        c: { key: "c", value: false, enabled: false, variant: null, payload: "unused", listsPayload: false },
      },
      requestId: "r",
      errorsWhileComputingFlags: false,
      quotaLimited: false,
      minimalFlagCalledEvents: false,
    });
    expect(parseRemoteFlagsResponse({})).toMatchObject({ ok: true, flags: {} });
  });

  it("a `flags` that is not a plain object, a null entry or a non-object body is a failed request", () => {
    for (const body of [{ flags: null }, { flags: [] }, { flags: "x" }, { flags: 1 }, { flags: { a: null } }, null, "text", 3]) {
      expect(parseRemoteFlagsResponse(body)).toMatchObject({ ok: false, error: "invalid_response" });
    }
    // ...unless quota limiting empties the flags first, as in posthog-node.
    expect(parseRemoteFlagsResponse({ flags: null, quotaLimited: ["feature_flags"] })).toMatchObject({ ok: true, quotaLimited: true });
  });

  it("entries without a boolean enabled or a variant are left out; enabled false wins over a variant", () => {
    const result = parseRemoteFlagsResponse({ flags: { a: {}, b: true, c: { enabled: false, variant: "v" }, d: { variant: "v" } } });
    expect(result.ok && result.flags).toEqual({
      c: { key: "c", value: false, enabled: false, variant: null, payload: null, listsPayload: false },
      d: { key: "d", value: "v", enabled: true, variant: "v", payload: null, listsPayload: false },
    });
  });

  it("keys such as __proto__ stay data", () => {
    const result = parseRemoteFlagsResponse(JSON.parse('{"flags":{"__proto__":{"enabled":true}}}'));
    expect(result.ok && Object.keys(result.flags)).toEqual(["__proto__"]);
    expect(remoteFlagError(result, "__proto__")).toBeUndefined();
    expect(remoteFlagError(result, "constructor")).toBe("flag_missing");
  });
});

describe("remoteFlagError", () => {
  const ok = (over: Partial<Extract<RemoteFlagsResult, { ok: true }>> = {}): RemoteFlagsResult => ({
    ok: true,
    flags: { a: { key: "a", value: true, enabled: true, variant: null, payload: null, listsPayload: false } },
    errorsWhileComputingFlags: false,
    quotaLimited: false,
    ...over,
  });

  it("codes, comma-joined in posthog-node's order", () => {
    expect(remoteFlagError(ok(), "a")).toBeUndefined();
    expect(remoteFlagError(ok(), "b")).toBe("flag_missing");
    expect(remoteFlagError(ok({ errorsWhileComputingFlags: true }), "a")).toBe("errors_while_computing_flags");
    expect(remoteFlagError(ok({ errorsWhileComputingFlags: true }), "b")).toBe("errors_while_computing_flags,flag_missing");
    expect(remoteFlagError(ok({ flags: {}, quotaLimited: true }), "a")).toBe("quota_limited,flag_missing");
    expect(remoteFlagError({ ok: false, error: "timeout", message: "t" }, "a")).toBe("unknown_error");
    expect(remoteFlagError({ ok: false, error: "http_error", message: "500", httpStatus: 500 }, "a")).toBe("unknown_error");
  });
});

describe("fetchRemoteFlags against the local server", () => {
  const server = useLocalPostHog();
  const fast = () => ({ ...BASE, host: server.url, timeoutMs: 200, retryDelayMs: 1 });
  const answered = () => server.setFlagsResponse({ flags: {} });

  it("POSTs the body to /flags/?v=2 with our User-Agent", async () => {
    answered();
    const result = await fetchRemoteFlags({ ...fast(), flagKeys: ["x"] });
    expect(result).toMatchObject({ ok: true, flags: {} });
    const [request] = server.requests();
    expect(request).toMatchObject({ method: "POST", path: "/flags/", query: "v=2" });
    expect(request!.headers["user-agent"]).toBe(`${LIB_NAME}/${LIB_VERSION}`);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.body).toEqual(remoteFlagsBody({ ...fast(), flagKeys: ["x"] }));
  });

  it.each([
    ["502 then an answer", [{ status: 502, times: 1 }], 2, { ok: true }],
    ["504 twice", [{ status: 504, body: "gw", times: 2 }], 2, { ok: false, error: "http_error", httpStatus: 504 }],
    ["a timeout then an answer", [{ hangMs: 1_000, times: 1 }], 2, { ok: true }],
    ["two timeouts", [{ hangMs: 1_000, times: 2 }], 2, { ok: false, error: "timeout" }],
    ["a reset connection then an answer", [{ reset: true, times: 1 }], 2, { ok: true }],
    ["500", [{ status: 500, body: "boom", times: 1 }], 1, { ok: false, error: "http_error", httpStatus: 500 }],
    ["a body that is not JSON", [{ status: 200, body: "nope", times: 1 }], 1, { ok: false, error: "invalid_response" }],
    ["flags: null", [{ status: 200, body: '{"flags":null}', times: 1 }], 1, { ok: false, error: "invalid_response" }],
    ["a 3xx answer", [{ status: 302, body: '{"flags":{"a":{"enabled":true}}}', times: 1 }], 1, { ok: true, flags: { a: { value: true } } }],
  ] as const)("%s", async (_name, faults, attempts, expected) => {
    answered();
    server.addFaults(...(faults as unknown as FaultRule[]).map((f) => ({ path: "/flags", ...f })));
    expect(await fetchRemoteFlags(fast())).toMatchObject(expected);
    expect(server.requests()).toHaveLength(attempts);
  });

  describe("a refused connection is not retried", () => {
    /** Calls the real fetch and counts the calls; `convexError` rethrows failures as the Convex runtime words them. */
    function realFetchCounting(convexError?: (url: string) => string) {
      const realFetch = globalThis.fetch;
      const calls: string[] = [];
      vi.stubGlobal("fetch", async (url: string, init?: RequestInit) => {
        calls.push(url);
        try {
          return await realFetch(url, init);
        } catch (error) {
          if (convexError === undefined || init?.signal?.aborted) throw error;
          throw new Error(convexError(url));
        }
      });
      return calls;
    }
    async function closedHost() {
      const closed = await startLocalPostHog();
      await closed.close();
      return closed.url;
    }
    afterEach(() => vi.unstubAllGlobals());

    it("in Node (ECONNREFUSED in the error's cause)", async () => {
      const calls = realFetchCounting();
      const result = await fetchRemoteFlags({ ...fast(), host: await closedHost() });
      expect(result).toMatchObject({ ok: false, error: "network_error", message: expect.stringMatching(/ECONNREFUSED/) });
      expect(calls).toHaveLength(1);
    });

    it("in the Convex runtime (reqwest's error chain as the message)", async () => {
      // crates/isolate/src/environment/action/fetch.rs throws `format!("{e:#}")` of reqwest's error.
      const calls = realFetchCounting(
        (url) => `error sending request for url (${url}): client error (Connect): tcp connect error: Connection refused (os error 111)`,
      );
      const result = await fetchRemoteFlags({ ...fast(), host: await closedHost() });
      expect(result).toMatchObject({ ok: false, error: "network_error", message: expect.stringMatching(/Connection refused/) });
      expect(calls).toHaveLength(1);
    });

    it("other network errors in the Convex runtime's words are retried once", async () => {
      const calls = realFetchCounting((url) => `error sending request for url (${url}): connection closed before message completed`);
      answered();
      server.addFaults({ path: "/flags", reset: true, times: 2 });
      expect(await fetchRemoteFlags(fast())).toMatchObject({ ok: false, error: "network_error", message: expect.stringMatching(/connection closed/) });
      expect(calls).toHaveLength(2);
    });
  });

  it("waits retryDelayMs before the retry", async () => {
    answered();
    server.addFaults({ path: "/flags", status: 502, times: 1 });
    await fetchRemoteFlags({ ...fast(), retryDelayMs: 120 });
    const [first, second] = server.requests();
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(110);
  });
});
