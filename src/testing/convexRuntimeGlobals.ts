// Vitest setup file: make the test environment as poor as the Convex runtime for our code.
//
// The edge-runtime test environment has globals that the Convex runtime lacks (Buffer,
// CompressionStream, a full `process`). Code that relied on them would pass tests and fail
// once deployed. The environment's own fetch needs Buffer, so the globals cannot simply be
// deleted: instead each becomes a getter that throws when the code touching it directly is
// one of the modules that run inside Convex (client, component, core).
const convexModule = /[/\\]src[/\\](client|component|core)[/\\](?!.*\.test\.)[^:]*:\d+/;
const missingInConvex = ["Buffer", "CompressionStream", "DecompressionStream", "setImmediate", "clearImmediate"];

/** Whether a stack frame line belongs to code that runs inside Convex. */
export function guardSees(frame: string): boolean {
  return convexModule.test(frame);
}

function calledFromConvexCode(): boolean {
  // Frame 0 is "Error", frame 1 this function, frame 2 the getter, frame 3 the accessor.
  return guardSees(new Error().stack?.split("\n")[3] ?? "");
}

for (const name of missingInConvex) {
  let real = (globalThis as Record<string, unknown>)[name];
  if (real === undefined) continue;
  Object.defineProperty(globalThis, name, {
    configurable: true,
    get() {
      if (calledFromConvexCode()) {
        throw new ReferenceError(`${name} is not defined (the Convex runtime does not provide it)`);
      }
      return real;
    },
    set(value) {
      real = value; // vitest swaps timers in and out
    },
  });
}

// The Convex runtime's `process` has only `env`.
const realProcess = globalThis.process;
const convexProcess = { env: realProcess.env };
Object.defineProperty(globalThis, "process", {
  configurable: true,
  get() {
    return calledFromConvexCode() ? convexProcess : realProcess;
  },
});
