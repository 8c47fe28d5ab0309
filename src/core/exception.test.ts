// Differential tests: our stack parser and `$exception_list` builder against the ones
// posthog-node 5.70's edge build (the build Convex resolves to) uses from @posthog/core.
import { ErrorTracking } from "@posthog/core";
import { describe, expect, it } from "vitest";
import { buildExceptionList, parseStack } from "./exception.js";

const oracleParser = ErrorTracking.createStackParser("node:javascript", ErrorTracking.nodeStackLineParser);
// The coercers and parser of posthog-node's edge entrypoint, without frame modifiers.
const oracleBuilder = new ErrorTracking.ErrorPropertiesBuilder(
  [
    new ErrorTracking.EventCoercer(),
    new ErrorTracking.ErrorCoercer(),
    new ErrorTracking.ObjectCoercer(),
    new ErrorTracking.StringCoercer(),
    new ErrorTracking.PrimitiveCoercer(),
  ],
  oracleParser,
);

/** Plain JSON data, as it goes on the wire (drops `module: undefined` and the like). */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value) ?? "null");

function oracleFrames(stack: string, skip = 0): unknown {
  try {
    return wire(oracleParser(stack, skip));
  } catch (error) {
    return { threw: (error as Error).name };
  }
}

function ourFrames(stack: string, skip = 0): unknown {
  try {
    return wire(parseStack(stack, skip));
  } catch (error) {
    return { threw: (error as Error).name };
  }
}

const SYNTHETIC = new Error("PostHog syntheticException");

function oracleList(input: unknown): unknown {
  try {
    return wire(oracleBuilder.buildFromUnknown(input, { syntheticException: SYNTHETIC }).$exception_list);
  } catch (error) {
    return { threw: String(error) };
  }
}

function ourList(input: unknown): unknown {
  return wire(buildExceptionList(input, () => SYNTHETIC.stack));
}

/** Deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rnd: () => number, items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;

describe("parseStack against posthog-node's parser", () => {
  const handWritten: Record<string, string> = {
    "typical node trace": [
      "Error: boom",
      "    at handler (/app/convex/orders.ts:12:11)",
      "    at Object.<anonymous> (/app/convex/_generated/server.js:3:5)",
      "    at async Promise.all (index 2)",
      "    at processTicksAndRejections (node:internal/process/task_queues:95:5)",
      "    at /app/node_modules/convex/dist/server.js:88:17",
      "    at new Foo (file:///app/src/foo.mjs:7:3)",
      "    at Array.map (<anonymous>)",
      "    at JSON.parse (native)",
      "    at eval (eval at run (/app/a.js:1:2), <anonymous>:1:1)",
    ].join("\n"),
    "convex-style bundled frames": [
      "Error: nope",
      "    at handler (../convex/messages.ts:10:5)",
      "    at invokeFunction (../../node_modules/convex/src/server/impl/registration_impl.ts:80:11)",
      "    at async invokeAction (../../node_modules/convex/src/server/impl/registration_impl.ts:482:0)",
    ].join("\n"),
    "windows and urls": [
      "TypeError: x is not a function",
      "    at run (C:\\app\\src\\a.js:3:4)",
      "    at run2 (file:///C:/app/src/b.js:5:6)",
      "    at fetchIt (https://cdn.example.com/app.js:1:2000)",
      "    at webpack-internal:///./src/c.js:7:8",
      "    at Module._compile (node:internal/modules/cjs/loader:1256:14)",
      "    at Object.Module._extensions..js (node:internal/modules/cjs/loader:1310:10)",
    ].join("\n"),
    "async keyword edge cases": [
      "Error: a",
      "    at async (/app/a.js:1:2)",
      "    at async (named) (/app/b.js:3:4)",
      "    at async foo (/app/c.js:5:6)",
      "    at async /app/d.js:7:8",
      "    at async ",
    ].join("\n"),
    "odd lines": [
      "Error: multi-line message",
      "second line of the message",
      "look at this",
      "    ----------------------------------------",
      "    at foo (error: /app/x.js:1:2)",
      "    at bar (/app/dir with spaces/y.js:1:2)",
      "    at baz (/app/%20encoded.js:9:9)",
      "    at zero (/app/z.js:0:0)",
      "    at crlf (/app/w.js:4:4)\r",
      "    at Promise.any (index 0)",
      "    at Foo..bar (/app/dots.js:1:1)",
      "    at trailing. (/app/dots.js:2:2)",
      "    at handleError: (/app/e.js:1:1)",
      "",
    ].join("\n"),
    "malformed escape makes the trace unusable": "Error: x\n    at f (/app/%E0%A4%A.js:1:2)",
    "only a message": "Error: nothing else",
  };

  for (const [name, stack] of Object.entries(handWritten)) {
    it(name, () => {
      expect(ourFrames(stack)).toEqual(oracleFrames(stack));
      expect(ourFrames(stack, 1)).toEqual(oracleFrames(stack, 1));
    });
  }

  it("keeps the 50 outermost frames of a long trace, outermost first", () => {
    const lines = ["Error: long"];
    for (let i = 0; i < 120; i++) lines.push(`    at f${i} (/app/long.js:${i + 1}:1)`);
    const stack = lines.join("\n");
    const frames = parseStack(stack);
    expect(frames).toHaveLength(50);
    expect(frames[49]).toMatchObject({ function: "f0", lineno: 1 });
    expect(wire(frames)).toEqual(oracleFrames(stack));
  });

  it("ignores lines over 1024 characters", () => {
    const stack = `Error: x\n    at f (/app/${"a".repeat(1100)}.js:1:2)\n    at g (/app/g.js:1:2)`;
    expect(ourFrames(stack)).toEqual(oracleFrames(stack));
    expect(parseStack(stack)).toHaveLength(1);
  });

  it("collapses recursion the way posthog-node does", () => {
    const frame = (name: string, line: number) => `    at ${name} (/app/rec.js:${line}:3)`;
    const cases: string[][] = [
      // straight recursion cut by the stack limit
      ["Error: deep", ...Array.from({ length: 60 }, () => frame("recurse", 4))],
      // mutual recursion with an outer caller and a partial copy at each end
      [
        "RangeError: Maximum call stack size exceeded",
        frame("b", 9),
        ...Array.from({ length: 20 }, () => [frame("a", 5), frame("b", 9)]).flat(),
        frame("a", 5),
        frame("main", 20),
      ],
      // nothing but a cycle: the rotation is canonical
      ["Error: x", ...Array.from({ length: 12 }, () => [frame("z", 1), frame("y", 2), frame("x", 3)]).flat()],
      ["Error: x", frame("y", 2), frame("x", 3), ...Array.from({ length: 12 }, () => [frame("z", 1), frame("y", 2), frame("x", 3)]).flat()],
    ];
    for (const lines of cases) {
      const stack = lines.join("\n");
      expect(ourFrames(stack)).toEqual(oracleFrames(stack));
    }
  });

  it("agrees on 3000 randomly assembled lines", () => {
    const rnd = random(20260101);
    const prefixes = ["    at ", "at ", "  at async ", "    at new ", "    at async ", "x at ", "", "    ", "\tat "];
    const names = [
      "foo", "Object.<anonymous>", "Foo.bar", "Module._compile", "Object.Module._extensions..js", "a.b.c",
      "async", "<anonymous>", "new Foo", "Promise.all", "Promise.any", "Foo..bar", "eval", "x [as y]",
      "format", "what at all", "Foo.", ".bar", "a (b)", "Error: x", "(weird",
    ];
    const locations = [
      "/app/src/a.js:10:5", "file:///C:/app/a.js:1:2", "node:internal/process/task_queues:95:5", "native",
      "<anonymous>", "index 0", "index 12", "/app/node_modules/lib/x.js:1:1", "webpack-internal:///./src/a.js:3:4",
      "C:\\app\\a.js:3:4", "eval at foo (/a.js:1:2), <anonymous>:1:1", "/a%20b.js:1:2", "/bad%E0%A4%A.js:1:2",
      "http://x.com/a.js:1:", "a.js:0:0", ":1:2", "error: /a.js:1:2", "./rel.js:4:4", "../up.js:5:5",
      "file://:1:2", "/a/b:c:1:2:3", "", ")", "x)y:1:2", "/C:/win.js:1:1",
    ];
    const noise = ["at ", "(", ")", ":", "1", " ", "async ", "\r", "----", ".", "Error: ", "file://", "%"];
    for (let i = 0; i < 3000; i++) {
      let line: string;
      const shape = rnd();
      if (shape < 0.45) line = `${pick(rnd, prefixes)}${pick(rnd, names)} (${pick(rnd, locations)})`;
      else if (shape < 0.75) line = `${pick(rnd, prefixes)}${pick(rnd, locations)}`;
      else line = `${pick(rnd, prefixes)}${pick(rnd, names)} ${pick(rnd, locations)}`;
      // random insertions
      const edits = Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (line.length + 1));
        line = line.slice(0, at) + pick(rnd, noise) + line.slice(at);
      }
      const stack = `Error: fuzz\n${line}\n    at tail (/app/tail.js:1:1)`;
      expect({ line, frames: ourFrames(stack) }).toEqual({ line, frames: oracleFrames(stack) });
    }
  });

  it("agrees on 1500 random recursion-shaped traces", () => {
    const rnd = random(7);
    const pool = [
      "    at a (/app/r.js:1:1)",
      "    at b (/app/r.js:2:2)",
      "    at c (/app/r.js:3:3)",
      "    at d (/app/r.js:4:4)",
      "    at a (/app/r.js:1:9)",
      "    at native (native)",
      "    -----",
      "not a frame",
    ];
    for (let i = 0; i < 1500; i++) {
      const lines = ["Error: rec"];
      const total = 1 + Math.floor(rnd() * 140);
      while (lines.length < total) {
        if (rnd() < 0.7) {
          const cycle = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => pick(rnd, pool));
          const repeats = 1 + Math.floor(rnd() * 8);
          for (let r = 0; r < repeats; r++) lines.push(...cycle);
          lines.push(...cycle.slice(0, Math.floor(rnd() * cycle.length)));
        } else {
          lines.push(pick(rnd, pool));
        }
      }
      const stack = lines.slice(0, total).join("\n");
      const skip = rnd() < 0.2 ? 1 : 0;
      expect({ stack, frames: ourFrames(stack, skip) }).toEqual({ stack, frames: oracleFrames(stack, skip) });
    }
  });
});

describe("buildExceptionList against posthog-node's builder", () => {
  class HttpError extends Error {
    constructor(
      message: string,
      readonly status: number,
    ) {
      super(message);
      this.name = "HttpError";
    }
  }

  const inputs: Record<string, () => unknown> = {
    "an Error": () => new Error("boom"),
    "a subclass": () => new HttpError("not found", 404),
    "an error with a cause chain": () =>
      new Error("outer", { cause: new TypeError("middle", { cause: new RangeError("inner") }) }),
    "a cause that is a string": () => new Error("outer", { cause: "string cause" }),
    "a cause that is a plain object": () => new Error("outer", { cause: { code: "E42", detail: "x" } }),
    "a cyclic cause": () => {
      const a = new Error("a");
      const b = new Error("b", { cause: a });
      (a as { cause?: unknown }).cause = b;
      return a;
    },
    "an AggregateError": () => new AggregateError([new Error("one"), "two", { message: "three" }], "many"),
    "nested AggregateErrors with duplicates": () => {
      const shared = new Error("shared");
      return new AggregateError([shared, new AggregateError([shared, new Error("x", { cause: shared })], "inner")], "outer");
    },
    "an AggregateError with 80 members": () =>
      new AggregateError(Array.from({ length: 80 }, (_, i) => new Error(`m${i}`)), "big"),
    "a cause chain 60 deep": () => {
      let error = new Error("e0");
      for (let i = 1; i < 60; i++) error = new Error(`e${i}`, { cause: error });
      return error;
    },
    "an Error without a stack": () => {
      const error = new Error("stackless");
      error.stack = undefined;
      return error;
    },
    "an Error with an empty name": () => {
      const error = new HttpError("nameless", 500);
      error.name = "";
      return error;
    },
    "an Error whose message holds an error": () => {
      const error = new Error("x");
      (error as { message: unknown }).message = { error: { message: "inner message" } };
      return error;
    },
    "an Error with a `stacktrace` string": () => {
      const error = new Error("st");
      (error as { stacktrace?: string }).stacktrace = "Error: st\n    at other (/app/o.js:1:2)";
      return error;
    },
    "an Error with a malformed stack": () => {
      const error = new Error("bad");
      error.stack = "Error: bad\n    at f (/app/%E0%A4%A.js:1:2)";
      return error;
    },
    "a plain string": () => "something went wrong",
    "a string naming a type": () => "TypeError: cannot read x",
    "an uncaught string": () => "Uncaught exception: ReferenceError: y is not defined",
    "a multi-line string": () => "TypeError: first\nsecond",
    "an object with a message": () => ({ message: "quota exceeded", code: 42 }),
    "an object with a name and message": () => ({ name: "QuotaError", message: "too many" }),
    "an object with a blank name": () => ({ name: "  ", message: "blank" }),
    "an object with a stack": () => ({ message: "has stack", stack: "Error: has stack\n    at g (/app/g.js:3:4)" }),
    "an object with no keys": () => ({}),
    "an object with many keys": () => ({ alpha: 1, beta: 2, gamma: 3, delta: 4, epsilon: 5, zeta: 6, eta: 7 }),
    "a class instance": () => new (class Widget { size = 3; })(),
    "a null-prototype object": () => Object.assign(Object.create(null) as object, { k: 1 }),
    "an object carrying an Error": () => ({ error: new Error("wrapped"), context: "x" }),
    "an array": () => [1, 2, 3],
    "a number": () => 42,
    "null": () => null,
    "undefined": () => undefined,
    "a boolean": () => false,
    "a symbol": () => Symbol("s"),
    "a bigint": () => 10n,
    "a function": () => function namedFn() {},
  };

  for (const [name, make] of Object.entries(inputs)) {
    it(name, () => {
      const input = make();
      expect(ourList(input)).toEqual(oracleList(input));
    });
  }

  it("limits the list to 50 entries", () => {
    const list = buildExceptionList(
      new AggregateError(Array.from({ length: 80 }, (_, i) => new Error(`m${i}`)), "big"),
      () => undefined,
    );
    expect(list).toHaveLength(50);
    expect(list[0]!.mechanism).toEqual({ type: "generic", handled: true, synthetic: false, exception_id: 0 });
    expect(list[1]!.mechanism).toEqual({ type: "chained", source: "member", synthetic: false, exception_id: 1, parent_id: 0 });
  });

  it("flattens causes with parent ids", () => {
    const list = buildExceptionList(new Error("a", { cause: new Error("b", { cause: new Error("c") }) }), () => undefined);
    expect(list.map((e) => [e.value, e.mechanism.exception_id, e.mechanism.parent_id, e.mechanism.source])).toEqual([
      ["a", 0, undefined, undefined],
      ["b", 1, 0, "cause"],
      ["c", 2, 1, "cause"],
    ]);
  });

  it("asks for the call-site stack only when a value has none", () => {
    let calls = 0;
    const stack = () => {
      calls++;
      return SYNTHETIC.stack;
    };
    buildExceptionList(new Error("has one"), stack);
    expect(calls).toBe(0);
    const list = buildExceptionList("no stack", stack);
    expect(calls).toBe(1);
    expect(list[0]!.mechanism.synthetic).toBe(true);
    expect(list[0]!.stacktrace?.frames.length).toBeGreaterThan(0);
  });

  it("reports a placeholder instead of failing on a value that cannot be inspected", () => {
    const hostile = new Error("x");
    Object.defineProperty(hostile, "message", {
      get() {
        throw new Error("no");
      },
    });
    const list = buildExceptionList(hostile, () => undefined);
    expect(list).toEqual([
      { type: "Error", value: "Unknown error", mechanism: { type: "generic", handled: true, synthetic: true, exception_id: 0 } },
    ]);
  });

  it("emits the frame fields posthog-node emits, throwing frame last", () => {
    function thrower(): never {
      throw new TypeError("typed");
    }
    let caught: unknown;
    try {
      thrower();
    } catch (error) {
      caught = error;
    }
    const [entry] = buildExceptionList(caught, () => undefined);
    const frames = entry!.stacktrace!.frames;
    const last = frames[frames.length - 1]!;
    expect(last).toMatchObject({ platform: "node:javascript", function: "thrower", in_app: true });
    expect(last.filename).toMatch(/exception\.test\.ts$/);
    expect(typeof last.lineno).toBe("number");
    expect(typeof last.colno).toBe("number");
    for (const frame of frames) {
      expect(Object.keys(frame).sort()).toEqual(
        expect.arrayContaining(["filename", "function", "in_app", "platform"].filter((k) => k in frame)),
      );
      expect(frame).not.toHaveProperty("context_line");
      expect(frame).not.toHaveProperty("module");
    }
  });
});
