// Flags read live from the app's own Convex functions (example/convex/posthogApi.ts): a flag
// edited in PostHog reaches this page as soon as the definitions refresh (cron or webhook).
import { useMutation } from "convex/react";
import { useFeatureFlag, useFeatureFlags } from "convex-posthog/react";
import { api } from "../convex/_generated/api.js";

// posthog-js, if the page also uses it, takes its flags from Convex instead of asking /flags:
//
//   import posthog from "posthog-js";
//   import { usePostHogFlagSync } from "convex-posthog/react";
//   posthog.init(KEY, { advanced_disable_feature_flags: true });
//   usePostHogFlagSync(api.posthogApi, posthog, { anonymousId });
//
// and `anonymousId` below is then `posthog.get_distinct_id()`. The hooks report exposures, so
// leave posthog-js's flag methods alone (or pass `{ send_event: false }`) to avoid reporting twice.

/** A signed-out visitor's id (posthog-js's distinct id, when the page has posthog-js). */
function visitorId(): string {
  let id = localStorage.getItem("visitor-id");
  if (id === null) {
    id = crypto.randomUUID();
    localStorage.setItem("visitor-id", id);
  }
  return id;
}

const anonymousId = visitorId();

export function App() {
  // exposure "none": a theme is not an experiment's exposure.
  const darkMode = useFeatureFlag(api.posthogApi, "release_ui_dark_mode", { anonymousId, exposure: "none" });
  const theme = darkMode.value === true ? { background: "#111", color: "#eee" } : {};
  return (
    <main style={{ fontFamily: "sans-serif", padding: 24, ...theme }}>
      <h1>convex-posthog example</h1>
      <Checkout />
      <AllFlags />
    </main>
  );
}

/** The checkout experiment: the variant and its payload, reported as an exposure once shown. */
function Checkout() {
  // value: "control" | "one-page" | false; payload: { steps: number } | null (typed by analytics.ts).
  const { value, payload, loading } = useFeatureFlag(api.posthogApi, "experiment_checkout_one_page", { anonymousId });
  const track = useMutation(api.posthogApi.track);
  if (loading) return <p>Loading the checkout…</p>;
  const steps = payload?.steps ?? 3;
  return (
    <section>
      <h2>Checkout ({value === false || value === undefined ? "not in the experiment" : `variant "${value}"`})</h2>
      <p>
        {steps} step{steps === 1 ? "" : "s"} to pay
      </p>
      {/* A declared event: Convex checks its name and properties against analytics.ts. */}
      <button onClick={() => void track({ event: "order placed", properties: { item: "keyboard", amount: 25, channel: "web" }, anonymousId })}>
        Place order
      </button>
    </section>
  );
}

/** Every flag the browser may read, with why it has its value. */
function AllFlags() {
  const flags = useFeatureFlags(api.posthogApi, { anonymousId });
  if (flags === undefined) return <p>Loading flags…</p>;
  return (
    <section>
      <h2>Flags for {flags.distinctID ?? "nobody"}</h2>
      <table>
        <tbody>
          {Object.entries(flags.reasons).map(([key, reason]) => (
            <tr key={key}>
              <td>{key}</td>
              <td>{JSON.stringify(flags.featureFlags[key as keyof typeof flags.featureFlags] ?? null)}</td>
              <td>{reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
