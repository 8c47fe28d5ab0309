// Proves the published shape works: `npm pack`, install the tarball into a fresh app that
// registers the component and uses the client, typecheck that app, load the package's
// entry points in Node, and run the deploy check (scripts/deploy-check.mjs) on that app:
// what `npx convex deploy` would bundle from the installed package, loaded with only the
// Convex runtime's globals. The app includes code written for @posthog/convex 2.1.5 with only
// the import changed (convex/fromPosthogConvex.ts, crons.ts and a 2.x-style convex.config.ts):
// it must compile with 0 errors, and the config must be accepted at runtime.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const run = (cmd, args, cwd) => {
  try {
    return execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] }).toString();
  } catch (error) {
    // tsc reports its errors on stdout: show them, not just the exit code.
    process.stderr.write(`${error.stdout ?? ""}${error.stderr ?? ""}`);
    console.error(`pack check failed: ${cmd} ${args.join(" ")}`);
    process.exit(1);
  }
};

const app = mkdtempSync(path.join(tmpdir(), "convex-posthog-app-"));
const tarball = run("npm", ["pack", "--silent", "--pack-destination", app], root).trim().split("\n").pop();
console.log(`packed ${tarball}`);
cpSync(path.join(root, "scripts/pack-check"), app, { recursive: true });
writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module" }));
run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `./${tarball}`,
  `convex@${pkg.devDependencies.convex}`, `typescript@${pkg.devDependencies.typescript}`,
  `@types/node@${pkg.devDependencies["@types/node"]}`], app);

// The React hooks ship as their own entry point (react stays an optional peer: not installed here).
for (const file of ["dist/react/index.js", "dist/react/index.d.ts"]) {
  if (!existsSync(path.join(app, "node_modules/convex-posthog", file))) {
    console.error(`pack check failed: the package lacks ${file}`);
    process.exit(1);
  }
}

// The app's convex/_generated/ is committed beside it, as `npx convex codegen` writes it.
run("npx", ["tsc", "-p", "tsconfig.json"], app);
console.log("fresh app typechecks against the packed package, @posthog/convex 2.x code included: 0 errors");

const check = `
  const client = await import("convex-posthog");
  const config = await import("convex-posthog/convex.config.js");
  if (typeof client.PostHog !== "function") throw new Error("PostHog class missing");
  if (typeof client.normalizeError !== "function") throw new Error("normalizeError missing");
  if (config.default?.componentDefinitionPath === undefined && typeof config.default !== "object") throw new Error("component definition missing");
  console.log("entry points load: PostHog client, normalizeError and component definition");
`;
process.stdout.write(run("node", ["--input-type=module", "-e", check], app));

// Evaluate the app's 2.x-style convex.config.ts as a push would: the bundler stamps the
// component's path on the imported definition, then the app's definition is exported for
// analysis; the deployment accepts only env names the component declares.
run("npx", ["tsc", "-p", "tsconfig.json", "--noEmit", "false", "--outDir", "config-js", "--rootDir", "."], app);
const configCheck = `
  const posthog = (await import("convex-posthog/convex.config.js")).default;
  posthog.componentDefinitionPath = "../node_modules/convex-posthog/dist/component";
  posthog.defaultName = "posthog";
  const app = (await import("./config-js/convex/convex.config.js")).default;
  const [child] = app.export().childComponents;
  const declared = new Map(posthog.export().envVars ?? []);
  const passed = (child.env ?? []).map(([name]) => name);
  const undeclared = passed.filter((name) => !declared.has(name));
  if (child.name !== "posthog" || passed.length !== 5) throw new Error("unexpected analysis: " + JSON.stringify(child));
  if (undeclared.length > 0) throw new Error("env names the component does not declare: " + undeclared.join(", "));
  const required = [...declared].filter(([, d]) => d.optional !== true).map(([name]) => name);
  if (required.length > 0) throw new Error("required env vars would break app.use(posthog): " + required.join(", "));
  console.log("2.x convex.config accepted: app.use(posthog, { env }) passes " + passed.join(", "));
`;
process.stdout.write(run("node", ["--input-type=module", "-e", configCheck], app));

// The app's own convex CLI bundles it, exactly as a user's deploy would.
execFileSync(process.execPath, ["--experimental-vm-modules", "--no-warnings", path.join(root, "scripts/deploy-check.mjs"), app], {
  cwd: app,
  stdio: "inherit",
});

// The ./react entry as a React app uses it: with react installed, a file calling the hooks
// typechecks against the packed declarations.
run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `react@${pkg.devDependencies.react}`,
  `@types/react@${pkg.devDependencies["@types/react"]}`], app);
writeFileSync(path.join(app, "tsconfig.react.json"), JSON.stringify({ extends: "./tsconfig.json", include: ["react"] }));
run("npx", ["tsc", "-p", "tsconfig.react.json"], app);
console.log("a React file using convex-posthog/react typechecks against the packed package: 0 errors");
