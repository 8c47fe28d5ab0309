import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "./server.js";

let server: LocalPostHog;
beforeAll(async () => {
  server = await startLocalPostHog();
});
afterAll(() => server.close());
afterEach(() => server.reset());

const KEY = "phc_test";

function message(event: string, distinct_id = "user-1", properties: Record<string, unknown> = {}) {
  return {
    event,
    distinct_id,
    properties: { $lib: "posthog-node", ...properties },
    timestamp: "2026-01-02T03:04:05.678Z",
    uuid: crypto.randomUUID(),
  };
}

function batchBody(apiKey: string, ...events: ReturnType<typeof message>[]) {
  return { api_key: apiKey, batch: events, sent_at: "2026-01-02T03:04:06.001Z" };
}

function post(path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(server.url + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...init.headers },
    body: typeof body === "string" || body instanceof Uint8Array ? (body as BodyInit) : JSON.stringify(body),
    signal: init.signal,
  });
}

/** gzip via node:zlib, copied into this realm's Uint8Array so fetch sends the bytes as they are. */
function gzip(value: unknown): Uint8Array {
  return new Uint8Array(gzipSync(JSON.stringify(value)));
}

function getDefinitions(token: string, headers: Record<string, string> = { Authorization: "Bearer phx_secret" }) {
  return fetch(`${server.url}/flags/definitions?token=${token}&send_cohorts`, { headers });
}

describe("capture", () => {
  test("a plain JSON batch is recorded with its key, headers and events", async () => {
    const sent = batchBody(KEY, message("order_placed", "user-42", { amount: 12.5 }), message("$pageview"));
    const res = await post("/batch/", sent, { headers: { "User-Agent": "posthog-node/5.70.0" } });

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "Ok" });
    const [batch] = server.batches();
    expect(batch).toMatchObject({
      apiKey: KEY,
      path: "/batch/",
      gzip: false,
      sentAt: "2026-01-02T03:04:06.001Z",
      status: 200,
    });
    expect(batch!.headers["user-agent"]).toBe("posthog-node/5.70.0");
    expect(batch!.bodyBytes).toBe(JSON.stringify(sent).length);
    expect(server.events()).toEqual([
      expect.objectContaining({
        apiKey: KEY,
        event: "order_placed",
        distinct_id: "user-42",
        uuid: sent.batch[0]!.uuid,
        timestamp: "2026-01-02T03:04:05.678Z",
        properties: { $lib: "posthog-node", amount: 12.5 },
        message: sent.batch[0],
        batchIndex: 0,
      }),
      expect.objectContaining({ event: "$pageview", batchIndex: 0 }),
    ]);
  });

  test("a gzip batch is decoded, with or without Content-Encoding", async () => {
    const body = gzip(batchBody(KEY, message("zipped")));
    await post("/batch/", body, { headers: { "Content-Encoding": "gzip" } });
    await post("/batch/", gzip(batchBody(KEY, message("sniffed"))));

    expect(server.batches().map((b) => [b.gzip, b.headers["content-encoding"]])).toEqual([
      [true, "gzip"],
      [true, undefined],
    ]);
    expect(server.batches()[0]!.bodyBytes).toBe(body.length);
    expect(server.events().map((e) => [e.event, e.batchIndex])).toEqual([
      ["zipped", 0],
      ["sniffed", 1],
    ]);
  });

  test("aliases and single-event bodies are accepted", async () => {
    for (const path of ["/batch", "/capture/", "/e/", "/i/v0/e/"]) {
      expect((await post(path, { api_key: KEY, ...message(`via ${path}`) })).status).toBe(200);
    }
    expect(server.events().map((e) => e.event)).toEqual(["via /batch", "via /capture/", "via /e/", "via /i/v0/e/"]);
  });

  test("events are kept apart per project key", async () => {
    await post("/batch/", batchBody("phc_a", message("a1"), message("a2")));
    await post("/batch/", batchBody("phc_b", message("b1")));

    expect(server.events("phc_a").map((e) => e.event)).toEqual(["a1", "a2"]);
    expect(server.events("phc_b").map((e) => e.event)).toEqual(["b1"]);
    expect(server.batches("phc_b")).toHaveLength(1);
    expect(server.events()).toHaveLength(3);
  });

  test("bad requests are answered 401/400 and record no events", async () => {
    const noKey = await post("/batch/", { batch: [message("x")] });
    const badJson = await post("/batch/", "{not json");
    const badGzip = await post("/batch/", new Uint8Array([0x1f, 0x8b, 1, 2, 3]));

    expect(noKey.status).toBe(401);
    expect(badJson.status).toBe(400);
    expect((await badJson.json()).detail).toMatch(/malformed JSON/);
    expect(badGzip.status).toBe(400);
    expect((await badGzip.json()).detail).toMatch(/gunzip/);
    expect(server.events()).toEqual([]);
    expect(server.requests().map((r) => r.status)).toEqual([401, 400, 400]);
  });
});

describe("faults", () => {
  test("a status fault answers with its headers and records nothing", async () => {
    server.addFaults({ path: "/batch/", status: 429, headers: { "Retry-After": "1" } });
    const res = await post("/batch/", batchBody(KEY, message("limited")));

    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(server.events()).toEqual([]);
    expect(server.requests()).toEqual([
      expect.objectContaining({ method: "POST", path: "/batch/", apiKey: KEY, status: 429 }),
    ]);
  });

  test("times: the rule expires after that many matching requests", async () => {
    server.addFaults({ status: 503, times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post("/batch/", batchBody(KEY, message(`e${i}`)))).status);

    expect(statuses).toEqual([503, 503, 200]);
    expect(server.events().map((e) => e.event)).toEqual(["e2"]);
  });

  test("forMs: the rule expires after that long", async () => {
    server.addFaults({ status: 500, forMs: 150 });
    expect((await post("/batch/", batchBody(KEY, message("early")))).status).toBe(500);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await post("/batch/", batchBody(KEY, message("late")))).status).toBe(200);
  });

  test("apiKey and path scope a rule; the first matching rule applies", async () => {
    server.addFaults({ apiKey: "phc_b", status: 401 }, { path: "/flags", status: 500 }, { status: 502 });

    expect((await post("/batch/", batchBody("phc_b", message("b")))).status).toBe(401);
    expect((await post("/flags/?v=2", { token: "phc_b", distinct_id: "u" })).status).toBe(401);
    expect((await post("/flags/?v=2", { token: "phc_a", distinct_id: "u" })).status).toBe(500);
    // "/flags" names the /flags endpoint only, not /flags/definitions.
    expect((await getDefinitions("phc_a")).status).toBe(502);
    expect((await post("/batch/", batchBody("phc_a", message("a")))).status).toBe(502);

    server.clearFaults();
    expect((await post("/batch/", batchBody("phc_a", message("a")))).status).toBe(200);
  });

  test("reset destroys the socket without an answer", async () => {
    server.addFaults({ reset: true, times: 1 });

    await expect(post("/batch/", batchBody(KEY, message("lost")))).rejects.toThrow();
    expect(server.requests()[0]!.status).toBe("reset");
    expect(server.events()).toEqual([]);
    expect((await post("/batch/", batchBody(KEY, message("kept")))).status).toBe(200);
  });

  test("hangMs past the client's timeout makes the client abort, and nothing is recorded", async () => {
    server.addFaults({ hangMs: 150, times: 1 });

    await expect(
      post("/batch/", batchBody(KEY, message("slow")), { signal: AbortSignal.timeout(50) }),
    ).rejects.toThrow();
    expect(server.requests()[0]!.status).toBe("hang");
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.requests()[0]!.status).toBe("hang");
    expect(server.events()).toEqual([]);
  });

  test("hangMs within the client's patience answers normally after the delay", async () => {
    server.addFaults({ hangMs: 100 });
    const started = Date.now();
    const res = await post("/batch/", batchBody(KEY, message("late")));

    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(server.events().map((e) => e.event)).toEqual(["late"]);
  });

  test("maxBodyBytes answers 413 only above the size on the wire", async () => {
    const small = batchBody(KEY, message("small"));
    const big = batchBody(KEY, message("big", "user-1", { blob: "x".repeat(2000) }));
    server.addFaults({ maxBodyBytes: JSON.stringify(small).length });

    expect((await post("/batch/", small)).status).toBe(200);
    expect((await post("/batch/", big)).status).toBe(413);
    // gzip shrinks the repetitive body under the limit
    expect((await post("/batch/", gzip(big), { headers: { "Content-Encoding": "gzip" } })).status).toBe(200);
    expect(server.events().map((e) => e.event)).toEqual(["small", "big"]);
  });

  test("a malformed 200 body can be served", async () => {
    server.addFaults({ path: "/flags/definitions", status: 200, body: "not json" });
    const res = await getDefinitions(KEY);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("not json");
  });

  test("invalid rules are refused", () => {
    expect(() => server.addFaults({ path: "/batch/" } as never)).toThrow(TypeError);
  });
});

describe("flag definitions", () => {
  const flag = { id: 1, key: "beta", active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } };
  const defs = { flags: [flag], group_type_mapping: {}, cohorts: {} };

  test("empty definitions by default; 401 without Authorization", async () => {
    const res = await getDefinitions(KEY);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ flags: [], group_type_mapping: {}, cohorts: {} });
    expect((await getDefinitions(KEY, {})).status).toBe(401);
  });

  test("definitions per token fall back to the default", async () => {
    server.setDefinitions(defs, { token: "phc_a" });
    server.setDefinitions({ flags: [], group_type_mapping: { "0": "company" }, cohorts: {} });

    expect(await (await getDefinitions("phc_a")).json()).toEqual(defs);
    expect((await (await getDefinitions("phc_b")).json()).group_type_mapping).toEqual({ "0": "company" });
    const legacy = await fetch(`${server.url}/api/feature_flag/local_evaluation?token=phc_a&send_cohorts`, {
      headers: { Authorization: "Bearer phx_secret" },
    });
    expect(await legacy.json()).toEqual(defs);
  });

  test("ETag and If-None-Match give 304 until the definitions change", async () => {
    server.setDefinitions(defs);
    const first = await getDefinitions(KEY);
    const etag = first.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]+"$/);

    const again = await getDefinitions(KEY, { Authorization: "Bearer phx_secret", "If-None-Match": etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");

    server.setDefinitions({ ...defs, flags: [] });
    const changed = await getDefinitions(KEY, { Authorization: "Bearer phx_secret", "If-None-Match": etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);

    server.setDefinitions(defs, { etag: "v7" });
    expect((await getDefinitions(KEY)).headers.get("etag")).toBe('"v7"');
  });

  test("a definitions file is re-read on each request", async () => {
    const dir = mkdtempSync(join(tmpdir(), "posthog-local-"));
    const file = join(dir, "defs.json");
    writeFileSync(file, JSON.stringify(defs));
    const fromFile = await startLocalPostHog({ definitionsFile: file });
    try {
      const get = () => fetch(`${fromFile.url}/flags/definitions?token=${KEY}`, { headers: { Authorization: "Bearer k" } });
      expect(await (await get()).json()).toEqual(defs);
      writeFileSync(file, JSON.stringify({ ...defs, flags: [] }));
      expect((await (await get()).json()).flags).toEqual([]);
    } finally {
      await fromFile.close();
      rmSync(dir, { recursive: true });
    }
  });
});

describe("/flags", () => {
  test("without definitions, answers an empty v2 response by default and records the body", async () => {
    const body = { token: KEY, distinct_id: "u1", groups: {}, person_properties: {}, group_properties: {} };
    const res = await post("/flags/?v=2", body);

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      flags: {},
      errorsWhileComputingFlags: false,
      requestId: expect.any(String),
      evaluatedAt: expect.any(Number),
    });
    expect(server.requests()[0]).toMatchObject({ path: "/flags/", query: "v=2", apiKey: KEY, body });
  });

  test("canned responses, per token or computed from the body", async () => {
    server.setFlagsResponse({ flags: { beta: { key: "beta", enabled: true } }, errorsWhileComputingFlags: false });
    server.setFlagsResponse((body: { distinct_id: string }) => ({ flags: {}, echoed: body.distinct_id }), {
      token: "phc_fn",
    });

    expect((await (await post("/flags", { token: KEY, distinct_id: "u" })).json()).flags.beta.enabled).toBe(true);
    expect((await (await post("/flags/", { token: "phc_fn", distinct_id: "u9" })).json()).echoed).toBe("u9");
    expect((await post("/flags/?v=2", { distinct_id: "u" })).status).toBe(401);
  });

  test("an evaluator option receives the body and the token's definitions", async () => {
    const seen: unknown[] = [];
    const evaluating = await startLocalPostHog({
      definitions: { flags: [{ key: "x" }] },
      evaluateFlags: (body, definitions) => {
        seen.push([body.distinct_id, definitions]);
        return { flags: {}, evaluated: true };
      },
    });
    try {
      const res = await fetch(`${evaluating.url}/flags/?v=2`, {
        method: "POST",
        body: JSON.stringify({ token: KEY, distinct_id: "u1" }),
      });
      expect(await res.json()).toEqual({ flags: {}, evaluated: true });
      expect(seen).toEqual([["u1", { flags: [{ key: "x" }] }]]);
    } finally {
      await evaluating.close();
    }
  });
});

describe("control API and page", () => {
  test("faults, definitions, events and reset over HTTP", async () => {
    const control = (method: string, path: string, body?: unknown) =>
      fetch(server.url + path, { method, body: body === undefined ? undefined : JSON.stringify(body) });

    expect((await control("POST", "/_local/faults", [{ path: "/batch/", status: 503, times: 1 }])).status).toBe(200);
    expect((await post("/batch/", batchBody(KEY, message("refused")))).status).toBe(503);
    await post("/batch/", batchBody(KEY, message("kept")));
    await post("/batch/", batchBody("phc_other", message("other")));

    const events = await (await control("GET", `/_local/events?api_key=${KEY}`)).json();
    expect(events.map((e: { event: string }) => e.event)).toEqual(["kept"]);
    expect(await (await control("GET", "/_local/batches")).json()).toHaveLength(2);
    const requests = await (await control("GET", "/_local/requests")).json();
    expect(requests.map((r: { status: number }) => r.status)).toEqual([503, 200, 200]);

    await control("POST", "/_local/faults", { status: 500 });
    expect((await post("/batch/", batchBody(KEY, message("x")))).status).toBe(500);
    await control("DELETE", "/_local/faults");
    expect((await post("/batch/", batchBody(KEY, message("x")))).status).toBe(200);
    expect((await control("POST", "/_local/faults", [{ path: "/batch/" }])).status).toBe(400);

    await control("PUT", "/_local/definitions?token=phc_a", { flags: [{ key: "from-http" }] });
    expect((await (await getDefinitions("phc_a")).json()).flags[0].key).toBe("from-http");

    await control("POST", "/_local/reset");
    expect(server.events()).toEqual([]);
    expect((await (await getDefinitions("phc_a")).json()).flags).toEqual([]);
  });

  test("GET / lists received events, newest first", async () => {
    await post("/batch/", batchBody(KEY, message("first_event", "alice"), message("second_<event>", "bob")));
    const res = await fetch(server.url + "/");
    const html = await res.text();

    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(html).toContain("alice");
    expect(html).toContain("second_&#60;event&#62;");
    expect(html.indexOf("second_")).toBeLessThan(html.indexOf("first_event"));
  });
});

describe("lifecycle", () => {
  test("a failing handler or a garbage request does not take the server down", async () => {
    server.setFlagsResponse(() => {
      throw new Error("boom");
    });
    const failed = await post("/flags/?v=2", { token: KEY, distinct_id: "u" });
    expect(failed.status).toBe(500);
    expect((await failed.json()).detail).toBe("boom");

    const garbage = await new Promise<string>((resolve, reject) => {
      const url = new URL(server.url);
      const socket = connect(Number(url.port), url.hostname, () => socket.write("NOT HTTP AT ALL\r\n\r\n"));
      let reply = "";
      socket.on("data", (chunk: Uint8Array) => (reply += new TextDecoder().decode(chunk)));
      socket.on("close", () => resolve(reply));
      socket.on("error", reject);
    });
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);

    expect((await post("/batch/", batchBody(KEY, message("still_up")))).status).toBe(200);
  });

  test("close() returns promptly while a request hangs", async () => {
    const local = await startLocalPostHog();
    local.addFaults({ hangMs: 60_000 });
    const pending = fetch(`${local.url}/batch/`, {
      method: "POST",
      body: JSON.stringify(batchBody(KEY, message("stuck"))),
    }).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));

    const started = Date.now();
    await local.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
    expect(local.requests()[0]!.status).toBe("hang");
  });

  test("the CLI serves on the printed URL and stops on SIGTERM", async () => {
    const cli = spawn(process.execPath, ["--import", "tsx", "src/local-server/cli.ts", "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let output = "";
      const url = await new Promise<string>((resolve, reject) => {
        cli.stdout.on("data", (chunk: Uint8Array) => {
          output += new TextDecoder().decode(chunk);
          const match = /POSTHOG_HOST=(\S+)/.exec(output);
          if (match) resolve(match[1]!);
        });
        cli.on("exit", (code) => reject(new Error(`cli exited with ${code}: ${output}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

      const sent = batchBody(KEY, message("from_cli", "cli-user"));
      const res = await fetch(`${url}/batch/`, { method: "POST", body: JSON.stringify(sent) });
      expect(res.status).toBe(200);
      const events = await (await fetch(`${url}/_local/events`)).json();
      expect(events[0].event).toBe("from_cli");
      await expect.poll(() => output).toContain(`from_cli  distinct_id=cli-user  uuid=${sent.batch[0]!.uuid}`);

      const exited = new Promise<number | null>((resolve) => cli.on("exit", resolve));
      cli.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      cli.kill("SIGKILL");
    }
  }, 15_000);
});
