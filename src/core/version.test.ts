import { readFileSync } from "node:fs";
import { expect, test } from "vitest";
import { LIB_NAME, LIB_VERSION } from "./version.js";

test("$lib and $lib_version name this package and its version", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  expect(LIB_NAME).toBe(pkg.name);
  expect(LIB_VERSION).toBe(pkg.version);
});
