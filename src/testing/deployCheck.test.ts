// @vitest-environment node
// The deploy check (scripts/deploy-check.mjs) bundles an app with the Convex CLI's own code and
// loads every module with only the Convex runtime's globals. Here it runs on the example app,
// and on small apps holding one deliberately bad component module each, to see it fail clearly.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const script = path.join(repoRoot, "scripts/deploy-check.mjs");

type CheckedFunction = {
  component: string;
  id: string;
  kind: "query" | "mutation" | "action" | "httpAction";
  visibility: "public" | "internal" | "http" | null;
  args: unknown;
  returns: unknown;
};
type Report = { appDir: string; ok: boolean; problems: string[]; modules: string[]; nodeModules: string[]; functions: CheckedFunction[] };

/** Runs the check on all `appDirs` in one process (the CLI bundle is compiled once). */
async function deployCheck(appDirs: string[]): Promise<{ exitCode: number; reports: Report[] }> {
  const args = ["--experimental-vm-modules", "--no-warnings", script, ...appDirs, "--json"];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 });
    return { exitCode: 0, reports: JSON.parse(stdout) as Report[] };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    if (typeof failed.code !== "number" || !failed.stdout) throw error;
    return { exitCode: failed.code, reports: JSON.parse(failed.stdout) as Report[] };
  }
}

const header = `import { actionGeneric, internalMutationGeneric, mutationGeneric, queryGeneric } from "convex/server";
import { v } from "convex/values";
`;
const appConfig = `import { defineApp } from "convex/server";
import fixture from "../component/convex.config.js";
const app = defineApp();
app.use(fixture);
export default app;
`;
const goodModule = `${header}export const echo = queryGeneric({ args: { text: v.string() }, returns: v.string(), handler: async (_ctx, { text }) => text });
`;

/** A fresh app using a component named "fixture" that holds `good.ts` plus `componentFiles`. */
function fixtureApp(componentFiles: Record<string, string>, appFiles: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), "deploy-check-"));
  symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "fixture-app", private: true, type: "module" }));
  mkdirSync(path.join(dir, "convex"));
  mkdirSync(path.join(dir, "component"));
  writeFileSync(path.join(dir, "convex/convex.config.ts"), appConfig);
  writeFileSync(path.join(dir, "component/convex.config.ts"), `import { defineComponent } from "convex/server";\nexport default defineComponent("fixture");\n`);
  writeFileSync(path.join(dir, "component/good.ts"), goodModule);
  for (const [file, source] of Object.entries(componentFiles)) writeFileSync(path.join(dir, "component", file), source);
  for (const [file, source] of Object.entries(appFiles)) writeFileSync(path.join(dir, "convex", file), source);
  return dir;
}

const fixtures = {
  sound: () => fixtureApp({}),
  faults: () =>
    fixtureApp({
      "usesBuffer.ts": `${header}const prefix = Buffer.from("ph").toString("hex");
export const tag = queryGeneric({ args: {}, returns: v.string(), handler: async () => prefix });
`,
      "fetchesAtImport.ts": `${header}const warmUp = fetch("https://us.i.posthog.com/decide");
export const ping = actionGeneric({ args: {}, returns: v.null(), handler: async () => { await warmUp; return null; } });
`,
      "readsNodeProcess.ts": `${header}const node = process.versions.node;
export const version = queryGeneric({ args: {}, returns: v.string(), handler: async () => node });
`,
      "noValidators.ts": `${header}export const noReturns = mutationGeneric({ args: { n: v.number() }, handler: async () => 1 });
export const noArgs = queryGeneric({ returns: v.null(), handler: async () => null });
export const complete = internalMutationGeneric({ args: {}, returns: v.null(), handler: async () => null });
`,
      "duplicateKey.js": `${header}const limits = { batch: 100, batch: 50 };
export const batchSize = queryGeneric({ args: {}, returns: v.number(), handler: async () => limits.batch });
`,
    }),
  useNode: () => fixtureApp({ "nodeOnly.ts": `"use node";\n${header}export const hash = actionGeneric({ args: {}, returns: v.null(), handler: async () => null });\n` }),
  nodeImport: () =>
    fixtureApp({
      "nodeImport.ts": `import { createHash } from "node:crypto";\n${header}export const sha1 = queryGeneric({ args: { s: v.string() }, returns: v.string(), handler: async (_ctx, { s }) => createHash("sha1").update(s).digest("hex") });\n`,
    }),
  appWithoutArgs: () =>
    fixtureApp(
      {},
      {
        "app.ts": `${header}export const withArgs = queryGeneric({ args: {}, handler: async () => 1 });
export const withoutArgs = mutationGeneric({ handler: async () => 1 });
`,
      },
    ),
};

let exitCode: number;
const reports = {} as Record<"example" | keyof typeof fixtures, Report>;
const fixtureDirs: string[] = [];

beforeAll(async () => {
  const apps = [["example", repoRoot] as const, ...Object.entries(fixtures).map(([name, make]) => [name, make()] as const)];
  fixtureDirs.push(...apps.slice(1).map(([, dir]) => dir));
  const result = await deployCheck(apps.map(([, dir]) => dir));
  exitCode = result.exitCode;
  apps.forEach(([name, dir], i) => {
    expect(result.reports[i]?.appDir).toBe(path.resolve(dir));
    reports[name as keyof typeof reports] = result.reports[i]!;
  });
}, 120_000);

afterAll(() => {
  for (const dir of fixtureDirs) rmSync(dir, { recursive: true, force: true });
});

describe("deploy check on the example app (example/convex with the built package)", () => {
  it("bundles with the Convex CLI and loads every module with only Convex's globals", () => {
    expect(reports.example.problems).toEqual([]);
    expect(reports.example.ok).toBe(true);
    expect(reports.example.modules).toEqual(expect.arrayContaining(["app/orders.js", "app/schema.js", "posthog/delivery.js", "posthog/schema.js"]));
    expect(reports.example.nodeModules).toEqual([]);
  });

  it("reads each function's kind and visibility", () => {
    const find = (component: string, id: string) => reports.example.functions.find((f) => f.component === component && f.id === id);
    expect(find("posthog", "delivery:kick")).toMatchObject({ kind: "mutation", visibility: "internal" });
    expect(find("app", "orders:placeOrder")).toMatchObject({ kind: "mutation", visibility: "public" });
    expect(find("app", "flags:refreshFlagDefinitions")).toMatchObject({ kind: "action", visibility: "internal" });
  });

  it("finds args and returns validators on every component function", () => {
    const component = reports.example.functions.filter((f) => f.component === "posthog");
    expect(component.length).toBeGreaterThan(5);
    for (const f of component) {
      expect(f.args, f.id).toMatchObject({ type: "object" });
      expect(f.returns, f.id).not.toBeNull();
    }
  });
});

describe("deploy check on deliberately bad component modules", () => {
  it("exits 1 when any app fails", () => {
    expect(exitCode).toBe(1);
  });

  it("passes the fixture app as it is, so each failure below comes from the bad module", () => {
    expect(reports.sound.problems).toEqual([]);
    expect(reports.sound.ok).toBe(true);
    expect(reports.sound.functions).toEqual([
      expect.objectContaining({ component: "fixture", id: "good:echo", kind: "query", visibility: "public", returns: { type: "string" } }),
    ]);
  });

  describe("one app with several import-time and validator faults", () => {
    it("fails", () => {
      expect(reports.faults.ok).toBe(false);
    });

    it("names a module that uses Buffer at the top level", () => {
      expect(reports.faults.problems).toContainEqual(
        expect.stringMatching(/^fixture\/usesBuffer\.js fails to load in the Convex runtime: ReferenceError: Buffer is not defined \(the Convex runtime has no Buffer/),
      );
    });

    it("names a module that calls fetch while it loads", () => {
      expect(reports.faults.problems).toContainEqual(expect.stringMatching(/^fixture\/fetchesAtImport\.js fails to load .*fetch\(\) called while the module loads/));
    });

    it("names a module that reads Node's process at the top level", () => {
      expect(reports.faults.problems).toContainEqual(expect.stringMatching(/^fixture\/readsNodeProcess\.js fails to load .*TypeError: .*'node'/));
    });

    it("names component functions without a returns or an args validator", () => {
      expect(reports.faults.problems).toContain("fixture noValidators:noReturns (public mutation) declares no `returns` validator");
      expect(reports.faults.problems).toContain("fixture noValidators:noArgs (public query) declares no `args` validator");
      expect(reports.faults.problems.filter((p) => p.includes("complete") || p.includes("good"))).toEqual([]);
    });

    it("fails on an esbuild warning", () => {
      expect(reports.faults.problems).toContainEqual(expect.stringMatching(/^esbuild warning: Duplicate key "batch" in object literal \(component\/duplicateKey\.js:3:/));
    });

    it("still reads the sound functions of the same component", () => {
      expect(reports.faults.functions.find((f) => f.id === "noValidators:complete")).toMatchObject({ kind: "mutation", visibility: "internal" });
      expect(reports.faults.functions.map((f) => f.id).sort()).toEqual(["duplicateKey:batchSize", "good:echo", "noValidators:complete", "noValidators:noArgs", "noValidators:noReturns"]);
      expect(reports.faults.problems).toHaveLength(6);
    });
  });

  it('fails on a "use node" file in the component', () => {
    expect(reports.useNode.ok).toBe(false);
    expect(reports.useNode.problems).toContainEqual(expect.stringMatching(/^"use node" directive is not supported in components\. Remove it from the component at: .*component\.$/));
  });

  it("fails on an import the Convex runtime cannot bundle (node:crypto)", () => {
    expect(reports.nodeImport.ok).toBe(false);
    expect(reports.nodeImport.problems).toContainEqual(expect.stringMatching(/^esbuild error: Could not resolve "node:crypto" \(component\/nodeImport\.ts:1:/));
  });

  it("asks app functions for args only, and component functions for both", () => {
    expect(reports.appWithoutArgs.ok).toBe(false);
    expect(reports.appWithoutArgs.problems).toEqual(["app app:withoutArgs (public mutation) declares no `args` validator"]);
  });
});
