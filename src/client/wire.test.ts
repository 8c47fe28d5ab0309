// Wire fidelity end to end: for each scenario, posthog-node 5.70 and our client (through the
// component's outbox and batch delivery) send the same call to the same local server, and
// the messages that arrive must be equal apart from uuid/timestamp (unless the caller fixed
// them), $lib and $lib_version. See messages.wire.test.ts for why posthog-node's edge build.
import { PostHog as PostHogNode } from "posthog-node/edge";
import { afterAll, beforeAll, expect, test, vi } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "../local-server/server.js";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, waitFor } from "../testing/setup.js";
import { callPostHogNode, comparableMessage, wireScenarios, type PostHogNodeLike } from "../testing/wireScenarios.js";

let server: LocalPostHog;
beforeAll(async () => {
  server = await startLocalPostHog();
  vi.stubEnv("POSTHOG_API_KEY", "phc_ours");
  vi.stubEnv("POSTHOG_HOST", server.url);
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await server.close();
});

test.each(wireScenarios.map((scenario, index) => [scenario.name, index] as const))(
  "%s: what arrives equals what posthog-node sends",
  async (_name, index) => {
    const scenario = wireScenarios[index]!;
    const node = new PostHogNode("phc_node", { host: server.url, flushAt: 1, flushInterval: 0, fetchRetryCount: 0 });
    callPostHogNode(node as unknown as PostHogNodeLike, scenario.node);
    await node.shutdown();

    const t = initTestApp();
    await t.action(api.events.sendWireScenario, { index });
    await waitFor("our event", () => server.events("phc_ours").length === 1);

    const [theirs] = server.events("phc_node");
    const [ours] = server.events("phc_ours");
    expect(comparableMessage(ours!.message, scenario)).toEqual(comparableMessage(theirs!.message, scenario));
    expect(ours!.properties).toMatchObject({ $lib: "convex-posthog" });
    server.reset();
  },
);
