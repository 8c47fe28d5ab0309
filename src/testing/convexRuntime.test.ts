// Code that runs inside Convex must use only what the Convex runtime has. The setup file
// (convexRuntimeGlobals.ts) makes missing globals throw at run time; this test also reads
// the sources, so code paths no test reaches are covered too.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const convexFolders = ["client", "component", "core"];

function sources(): Array<{ file: string; text: string }> {
  const files: Array<{ file: string; text: string }> = [];
  for (const folder of convexFolders) {
    for (const entry of readdirSync(path.join(src, folder), { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith(".ts") || entry.name.includes(".test.")) continue;
      const file = path.join(entry.parentPath, entry.name);
      files.push({ file: path.relative(src, file), text: readFileSync(file, "utf8") });
    }
  }
  return files;
}

/** Source text without comments and string contents, so prose mentioning Buffer is fine. */
function code(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/\/\/.*$/gm, "")
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
}

test("no Node-only modules or globals in code that runs inside Convex", () => {
  const offenders: string[] = [];
  for (const { file, text } of sources()) {
    if (/from\s+["']node:|import\(\s*["']node:|require\(/.test(text)) offenders.push(`${file}: node module`);
    const body = code(text);
    for (const name of ["Buffer", "CompressionStream", "DecompressionStream", "setImmediate", "queueMicrotask", "__dirname"]) {
      if (new RegExp(`\\b${name}\\b`).test(body)) offenders.push(`${file}: ${name}`);
    }
    if (/process\.(?!env\b)\w+/.test(body)) offenders.push(`${file}: process beyond process.env`);
  }
  expect(offenders).toEqual([]);
  expect(sources().length).toBeGreaterThan(10); // the scan really read the folders
});

test("no fetch in component modules: queries and mutations cannot use it", () => {
  // The only network access is the /batch/ transport in core, called from the delivery action.
  const offenders = sources()
    .filter(({ file }) => file.startsWith("component"))
    .filter(({ text }) => /\bfetch\s*\(/.test(code(text)))
    .map(({ file }) => file);
  expect(offenders).toEqual([]);
});

test("the runtime guard throws when Convex code touches a missing global", async () => {
  // Evaluate a module whose URL places it in src/core, as the guard sees stack frames.
  const { guardSees } = await import("./convexRuntimeGlobals.js");
  expect(guardSees(`    at encode (${src}/core/messages.ts:10:5)`)).toBe(true);
  expect(guardSees(`    at deliver (${src}/component/delivery.ts:99:1)`)).toBe(true);
  expect(guardSees(`    at test (${src}/core/messages.test.ts:10:5)`)).toBe(false);
  expect(guardSees(`    at fetch (/work/main/node_modules/@edge-runtime/primitives/dist/fetch.js:1:1)`)).toBe(false);
});
