// Proves the published shape works: `npm pack`, install the tarball into a fresh app that
// registers the component and uses the client, typecheck that app, load the package's
// entry points in Node, and run the deploy check (scripts/deploy-check.mjs) on that app:
// what `npx convex deploy` would bundle from the installed package, loaded with only the
// Convex runtime's globals.
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"] }).toString();

const app = mkdtempSync(path.join(tmpdir(), "convex-posthog-app-"));
const tarball = run("npm", ["pack", "--silent", "--pack-destination", app], root).trim().split("\n").pop();
console.log(`packed ${tarball}`);
cpSync(path.join(root, "scripts/pack-check"), app, { recursive: true });
writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "fresh-app", private: true, type: "module" }));
run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", `./${tarball}`,
  `convex@${pkg.devDependencies.convex}`, `typescript@${pkg.devDependencies.typescript}`], app);

// The app's convex/_generated/ is committed beside it, as `npx convex codegen` writes it.
run("npx", ["tsc", "-p", "tsconfig.json"], app);
console.log("fresh app typechecks against the packed package");

const check = `
  const client = await import("convex-posthog");
  const config = await import("convex-posthog/convex.config.js");
  if (typeof client.PostHog !== "function") throw new Error("PostHog class missing");
  if (config.default?.componentDefinitionPath === undefined && typeof config.default !== "object") throw new Error("component definition missing");
  console.log("entry points load: PostHog client and component definition");
`;
process.stdout.write(run("node", ["--input-type=module", "-e", check], app));

// The app's own convex CLI bundles it, exactly as a user's deploy would.
execFileSync(process.execPath, ["--experimental-vm-modules", "--no-warnings", path.join(root, "scripts/deploy-check.mjs"), app], {
  cwd: app,
  stdio: "inherit",
});
