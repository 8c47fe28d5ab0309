// The client's resolved configuration, shared by every concern module: the options, the
// keys and host (read from the environment when a method runs), who a call is for, and the
// one-time warnings about what is missing.
import type { ComponentApi } from "../component/_generated/component.js";
import type { DeliveryOptions } from "../component/validators.js";
import { PostHogInputError } from "../core/messages.js";
import { LIB_NAME, LIB_VERSION } from "../core/version.js";
import type { AlertsOption } from "./alerts.js";
import type { BeforeSendHook } from "./beforeSend.js";
import { FlagOverrides } from "./overrides.js";
import type { EventsOption, FlagsOption } from "./typed.js";
import type { FlagReadOptions, IdentifyCtx, IdentifyFn } from "./types.js";

export const DEFAULT_HOST = "https://us.i.posthog.com";

export interface PostHogOptions<Flags extends FlagsOption = undefined, Events extends EventsOption = undefined> {
  /**
   * Project API key (phc_...). Default: the POSTHOG_API_KEY environment variable, else
   * POSTHOG_PROJECT_TOKEN (@posthog/convex 2.x's name). Without one, captures are skipped
   * with one warning and `status` says "not_configured".
   */
  apiKey?: string;
  /** Default: POSTHOG_HOST, else https://us.i.posthog.com. */
  host?: string;
  /** Personal API key for local flag evaluation. Default: POSTHOG_PERSONAL_API_KEY. */
  personalApiKey?: string;
  /** posthog-node 5.70's name for the personal (or project secret) API key; wins over personalApiKey. */
  secretKey?: string;
  beforeSend?: BeforeSendHook | BeforeSendHook[];
  identify?: IdentifyFn;
  /** Batch size, flush delay, timeouts and retry backoff of delivery. */
  delivery?: DeliveryOptions;
  /** Default for every flag read: queue `$feature_flag_called` exposures (default true). */
  sendFeatureFlagEvents?: boolean;
  /** posthog-node's spelling of sendFeatureFlagEvents (which wins when both are set). */
  sendFeatureFlagEvent?: boolean;
  /** How long a sent exposure suppresses the same one (default 7 days). */
  exposureDedupWindowMs?: number;
  /** Timeout of a /flags request (remote evaluation), as posthog-node: default 3000 ms. */
  featureFlagsRequestTimeoutMs?: number;
  /** Delay before the one retry of a /flags request: default 3000 ms. */
  featureFlagsRetryDelayMs?: number;
  /**
   * As posthog-node: send nothing and evaluate nothing. Captures are skipped, flag reads
   * answer as undecided (reason "disabled"), all-flags reads and remote reads are empty.
   */
  disabled?: boolean;
  /**
   * The app's flag registry (defineFlags): flag reads then accept only its keys and return its
   * variants and payload types; what PostHog serves against it is reported in `status`.
   */
  flags?: Flags;
  /** The app's event taxonomy (defineEvents): `capture` then accepts only its events and checks their properties. */
  events?: Events;
  /**
   * What a capture whose properties break the taxonomy does: "throw" a PostHogInputError
   * naming the path (default), "drop" it with a warning, or "send" it with a warning.
   */
  onInvalidEvent?: "throw" | "drop" | "send";
  /**
   * Flag governance (runFlagSync, runReleaseTracker, runFlagGuardian) talks to PostHog's private
   * API: the project id (default POSTHOG_PROJECT_ID; the number in your PostHog URLs).
   */
  projectId?: string;
  /** The environment queries run in (default POSTHOG_ENVIRONMENT_ID, else projectId). */
  environmentId?: string;
  /**
   * PostHog's app host for the private API (default POSTHOG_APP_HOST, else derived from `host`:
   * us.i.posthog.com → us.posthog.com, eu.i.posthog.com → eu.posthog.com, others unchanged).
   */
  appHost?: string;
  /**
   * A personal API key for governance writes (feature_flag:write; query:read and experiment:read
   * to watch and track). Default POSTHOG_ADMIN_API_KEY, else the personal API key. Passed to the
   * component's actions only: never stored, logged or scheduled.
   */
  adminApiKey?: string;
  /** Where flag governance alerts go: a Slack webhook and/or the app's own function. */
  alerts?: AlertsOption;
}

const NOT_CONFIGURED =
  "no PostHog project API key: pass apiKey to new PostHog(...) or set the POSTHOG_API_KEY (or POSTHOG_PROJECT_TOKEN) environment variable";

export class ClientConfig {
  /** Values set by overrideFeatureFlags, answered by local and remote reads alike (this isolate only). */
  readonly overrides = new FlagOverrides();
  #warnedNotConfigured = false;
  #warnedDefinitionsNotLoaded = false;
  readonly #warnings = new Set<string>();

  constructor(
    readonly component: ComponentApi,
    readonly options: PostHogOptions<FlagsOption, EventsOption>,
  ) {}

  /** Created with `disabled: true`: nothing is sent or evaluated. */
  get disabled(): boolean {
    return Boolean(this.options.disabled);
  }

  /** The project API key: the option, POSTHOG_API_KEY, then 2.x's POSTHOG_PROJECT_TOKEN. */
  projectApiKey(): string | undefined {
    for (const key of [this.options.apiKey, readEnv("POSTHOG_API_KEY"), readEnv("POSTHOG_PROJECT_TOKEN")]) {
      if (key !== undefined && key.trim() !== "") return key.trim();
    }
    return undefined;
  }

  /** Personal API key for flag definitions; never stored by the component. */
  personalApiKey(): string | undefined {
    const key = (this.options.secretKey ?? this.options.personalApiKey ?? readEnv("POSTHOG_PERSONAL_API_KEY") ?? "").trim();
    return key === "" ? undefined : key;
  }

  /** Where governance calls go, with the admin key; a PostHogInputError names what is missing. */
  adminTarget(): { appHost: string; projectId: string; environmentId: string; apiKey: string } {
    const projectId = (this.options.projectId ?? readEnv("POSTHOG_PROJECT_ID") ?? "").trim();
    if (projectId === "") {
      throw new PostHogInputError("projectId", "flag governance needs the PostHog project id: pass projectId to new PostHog(...) or set POSTHOG_PROJECT_ID");
    }
    const apiKey = (this.options.adminApiKey ?? readEnv("POSTHOG_ADMIN_API_KEY") ?? "").trim() || this.personalApiKey();
    if (apiKey === undefined) {
      throw new PostHogInputError(
        "adminApiKey",
        "flag governance needs a personal API key with feature_flag:write: pass adminApiKey or set POSTHOG_ADMIN_API_KEY (or POSTHOG_PERSONAL_API_KEY)",
      );
    }
    const environmentId = (this.options.environmentId ?? readEnv("POSTHOG_ENVIRONMENT_ID") ?? "").trim() || projectId;
    const configured = (this.options.appHost ?? readEnv("POSTHOG_APP_HOST") ?? "").trim();
    const appHost = (configured !== "" ? configured : appHostFor(this.destinationHost())).replace(/\/+$/, "");
    return { appHost, projectId, environmentId, apiKey };
  }

  /** The ingestion host (option, POSTHOG_HOST, default). */
  destinationHost(): string {
    const host = (this.options.host ?? readEnv("POSTHOG_HOST") ?? DEFAULT_HOST).trim().replace(/\/+$/, "");
    return host === "" ? DEFAULT_HOST : host;
  }

  /** Host and key, read when a method runs (env vars may change between deployments). */
  destination(): { host: string; apiKey: string } {
    const apiKey = this.projectApiKey();
    if (apiKey === undefined) throw new PostHogInputError("apiKey", NOT_CONFIGURED);
    return { host: this.destinationHost(), apiKey };
  }

  /** The destination, or undefined (warned about once) when there is no project API key. */
  configuredDestination(): { host: string; apiKey: string } | undefined {
    if (this.projectApiKey() !== undefined) return this.destination();
    if (!this.#warnedNotConfigured) {
      this.#warnedNotConfigured = true;
      console.warn(`PostHog: analytics is not configured, events are skipped: ${NOT_CONFIGURED}`);
    }
    return undefined;
  }

  /** @posthog/convex refreshed definitions by itself; here a forgotten cron must not go unnoticed. */
  warnDefinitionsNotLoaded(): void {
    if (this.#warnedDefinitionsNotLoaded) return;
    this.#warnedDefinitionsNotLoaded = true;
    console.warn(
      "PostHog: no flag definitions are loaded, so local flag reads are undecided (reason definitions_not_loaded): " +
        "call posthog.refreshFlagDefinitions from a cron in convex/crons.ts (see the README)",
    );
  }

  /** Log a warning once per client object (the same text again is not repeated). */
  warnOnce(text: string): void {
    if (this.#warnings.has(text)) return;
    this.#warnings.add(text);
    console.warn(text);
  }

  /** An explicit distinctId wins; otherwise the identify callback's, if any. */
  async findDistinctId(ctx: unknown, explicit: string | undefined): Promise<string | undefined> {
    if (explicit !== undefined && explicit !== "") return explicit;
    // The callback gets the ctx the method was called with, whatever type it declared.
    const identified = await this.options.identify?.(ctx as IdentifyCtx);
    return identified?.distinctId || undefined;
  }

  /** As findDistinctId, but a call for nobody is an error. */
  async resolveDistinctId(ctx: unknown, explicit: string | undefined): Promise<string> {
    const distinctId = await this.findDistinctId(ctx, explicit);
    if (distinctId !== undefined) return distinctId;
    throw new PostHogInputError(
      "distinctId",
      "required: pass distinctId, or configure an identify callback that returns one",
    );
  }

  /** Flag reads: as posthog-node, an explicit "" is evaluated like any other id. */
  async flagDistinctId(ctx: unknown, explicit: string | undefined): Promise<string> {
    return explicit ?? (await this.resolveDistinctId(ctx, undefined));
  }

  /** Whether a flag read queues an exposure: the call's option, then the client's, then yes. */
  sendsExposures(args: FlagReadOptions): boolean {
    return args.sendFeatureFlagEvents ?? this.options.sendFeatureFlagEvents ?? this.options.sendFeatureFlagEvent ?? true;
  }

  /** The /flags request's timeout and retry delay, where the options set them. */
  remoteTimings(): { timeoutMs?: number; retryDelayMs?: number } {
    return {
      ...(this.options.featureFlagsRequestTimeoutMs !== undefined ? { timeoutMs: this.options.featureFlagsRequestTimeoutMs } : {}),
      ...(this.options.featureFlagsRetryDelayMs !== undefined ? { retryDelayMs: this.options.featureFlagsRetryDelayMs } : {}),
    };
  }

  /** What every message is built with: this library's name and version, and the time. */
  buildOptions() {
    return { lib: { name: LIB_NAME, version: LIB_VERSION }, now: Date.now() };
  }

  /** The delivery options to pass the component, if any were given. */
  deliveryArgs(): { options?: DeliveryOptions } {
    return this.options.delivery ? { options: this.options.delivery } : {};
  }
}

export function readEnv(name: string): string | undefined {
  return typeof process === "undefined" ? undefined : process.env[name];
}

/** PostHog Cloud's app host for an ingestion host; a self-hosted PostHog serves both on one host. */
export function appHostFor(ingestionHost: string): string {
  return ingestionHost.replace(/^(https?:\/\/)(us|eu)\.i\.posthog\.com/i, "$1$2.posthog.com");
}
