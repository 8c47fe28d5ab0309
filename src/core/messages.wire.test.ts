// @vitest-environment node
//
// Wire fidelity: posthog-node 5.70 sends each scenario to a real local HTTP server, and the
// message it delivered must equal the one our builders produce (after JSON encoding), apart
// from what comparableMessage removes ($lib, $lib_version, generated uuid/timestamp/id, and
// stacks recorded at the capture call).
//
// posthog-node is imported from its `edge` entry point: that is the build a Convex deployment
// resolves (posthog-node maps the `convex` export condition to it). Compared with the Node build
// it leaves out what needs the file system or process: source context lines (context_line,
// pre_context, post_context), `module` names, and file names rewritten relative to
// process.cwd(). A Convex client cannot do those either, so this is the behaviour to match.
//
// Client options: flushAt 1 and flushInterval 0 so events go out at once; shutdown() then
// awaits captureException's asynchronous preparation and the final flush. No secret key, so no
// flag polling; exception autocapture stays off (its default).
import { PostHog } from "posthog-node/edge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalPostHog } from "../local-server/server.js";
import {
  buildOurMessage,
  callPostHogNode,
  comparableMessage,
  wireScenarios,
  type PostHogNodeLike,
} from "../testing/wireScenarios.js";
import { encodeMessage, type BuildOptions } from "./messages.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

const API_KEY = "phc_wire_fidelity";

let server: Awaited<ReturnType<typeof startLocalPostHog>>;

beforeAll(async () => {
  server = await startLocalPostHog();
});

afterAll(async () => {
  await server?.close();
});

async function sendWithPostHogNode(scenario: (typeof wireScenarios)[number]): Promise<Record<string, unknown>> {
  server.reset();
  const client = new PostHog(API_KEY, { host: server.url, flushAt: 1, flushInterval: 0, fetchRetryCount: 0 });
  const errors: unknown[] = [];
  client.on("error", (error) => errors.push(error));
  callPostHogNode(client as unknown as PostHogNodeLike, scenario.node);
  await client.shutdown();
  expect(errors).toEqual([]);
  const received = server.events(API_KEY);
  expect(received).toHaveLength(1);
  return received[0]!.message;
}

function ourWireMessage(scenario: (typeof wireScenarios)[number]): Record<string, unknown> {
  const opts: BuildOptions = { lib: { name: LIB_NAME, version: LIB_VERSION }, now: Date.now() };
  return JSON.parse(encodeMessage(buildOurMessage(scenario.ours, opts))) as Record<string, unknown>;
}

describe("messages match what posthog-node 5.70 puts on the wire", () => {
  it("covers every kind of call", () => {
    const methods = new Set(wireScenarios.map((s) => s.ours.method));
    expect([...methods].sort()).toEqual(["alias", "capture", "captureException", "groupIdentify", "identify"]);
  });

  for (const scenario of wireScenarios) {
    it(scenario.name, async () => {
      const theirs = await sendWithPostHogNode(scenario);
      const ours = ourWireMessage(scenario);
      expect(comparableMessage(ours, scenario)).toEqual(comparableMessage(theirs, scenario));
      // Our own library identity is what we send.
      expect((ours.properties as Record<string, unknown>).$lib).toBe(LIB_NAME);
      expect((ours.properties as Record<string, unknown>).$lib_version).toBe(LIB_VERSION);
    });
  }

  it("keeps the same top-level fields as posthog-node", async () => {
    const scenario = wireScenarios[0]!;
    const theirs = await sendWithPostHogNode(scenario);
    expect(Object.keys(ourWireMessage(scenario)).sort()).toEqual(Object.keys(theirs).sort());
  });
});
