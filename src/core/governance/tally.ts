// The guardian's local source: counts per (flag, variant, time bucket) of the events the
// sender delivers, read from the `$feature/<key>` property each event carries, and the last
// `$feature_flag_called` per flag (the usage signal). Pure: the component merges the result.

/** What the sender tallies, from the guardianWatch singleton. */
export interface TallyWatch {
  /** The watched flag keys. */
  keys: string[];
  /** The success event: `successTotal` counts it, `successes` those with `properties[property] === true`. */
  successEvent?: { event: string; property: string };
  bucketMs: number;
  /** Record `$feature_flag_called` exposures per flag. */
  usage: boolean;
}

/** One (flag, variant, bucket)'s counts from a set of events. */
export interface FlagTally {
  key: string;
  /** The flag's value on the events: "true", "false" or a variant key. */
  variant: string;
  bucketStart: number;
  /** Events other than `$feature_flag_called`. */
  events: number;
  exceptions: number;
  successTotal: number;
  successes: number;
  /** userHash of each distinct id seen, once each. */
  users: string[];
}

export interface BatchTally {
  counts: FlagTally[];
  /** Latest exposure time per flag key. */
  exposures: { key: string; at: number }[];
}

const EXPOSURE_EVENT = "$feature_flag_called";
const EXCEPTION_EVENT = "$exception";
const FLAG_PROPERTY_PREFIX = "$feature/";

/** Whether a watch asks for anything: without it, nothing is parsed. */
export function watchIsActive(watch: TallyWatch | undefined): watch is TallyWatch {
  return watch !== undefined && (watch.keys.length > 0 || watch.usage);
}

/** 8 hex characters of the 32-bit FNV-1a hash of the text's UTF-16 code units: short and stable. */
export function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}

/** How a distinct id is kept in tallies: enough to count unique users, without storing the id. */
export const userHash = shortHash;

/** A flag value as a variant name; undefined for values that are not a flag's answer. */
function variantOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  return undefined;
}

/** Accumulates a batch's events; `result()` gives the counts. */
export class Tallier {
  private readonly counts = new Map<string, FlagTally & { userSet: Set<string> }>();
  private readonly exposures = new Map<string, number>();
  /** Exact JSON text of the watched keys' properties, for the substring prefilter. */
  private readonly needles: string[];

  constructor(private readonly watch: TallyWatch) {
    this.needles = watch.keys.map((key) => JSON.stringify(FLAG_PROPERTY_PREFIX + key));
  }

  /**
   * Count one message (the JSON text of a PostHog event). A message that names no watched
   * flag, and is no exposure when usage is on, is only scanned for substrings, not parsed.
   */
  add(message: string): void {
    const isExposure = this.watch.usage && message.includes(`"${EXPOSURE_EVENT}"`);
    if (!isExposure && !this.needles.some((needle) => message.includes(needle))) return;
    let parsed: { event?: unknown; distinct_id?: unknown; properties?: Record<string, unknown>; timestamp?: unknown };
    try {
      parsed = JSON.parse(message);
    } catch {
      return; // the outbox holds only encoded messages; a foreign row is simply not counted
    }
    const properties = parsed.properties ?? {};
    const at = typeof parsed.timestamp === "string" ? Date.parse(parsed.timestamp) : NaN;
    if (!Number.isFinite(at)) return;
    if (parsed.event === EXPOSURE_EVENT) {
      const key = properties.$feature_flag;
      if (this.watch.usage && typeof key === "string" && key !== "") {
        this.exposures.set(key, Math.max(at, this.exposures.get(key) ?? at));
      }
      return;
    }
    const bucketStart = Math.floor(at / this.watch.bucketMs) * this.watch.bucketMs;
    const success = this.watch.successEvent;
    const isSuccessEvent = success !== undefined && parsed.event === success.event;
    const user = typeof parsed.distinct_id === "string" ? userHash(parsed.distinct_id) : undefined;
    for (const key of this.watch.keys) {
      const variant = variantOf(properties[FLAG_PROPERTY_PREFIX + key]);
      if (variant === undefined) continue;
      const tally = this.countFor(key, variant, bucketStart);
      tally.events++;
      if (parsed.event === EXCEPTION_EVENT) tally.exceptions++;
      if (isSuccessEvent) {
        tally.successTotal++;
        if (properties[success.property] === true) tally.successes++;
      }
      if (user !== undefined) tally.userSet.add(user);
    }
  }

  /** Add tallies already aggregated elsewhere (the sender's, of a batch PostHog accepted). */
  merge(tally: BatchTally): void {
    for (const count of tally.counts) {
      const into = this.countFor(count.key, count.variant, count.bucketStart);
      into.events += count.events;
      into.exceptions += count.exceptions;
      into.successTotal += count.successTotal;
      into.successes += count.successes;
      for (const user of count.users) into.userSet.add(user);
    }
    for (const { key, at } of tally.exposures) this.exposures.set(key, Math.max(at, this.exposures.get(key) ?? at));
  }

  private countFor(key: string, variant: string, bucketStart: number): FlagTally & { userSet: Set<string> } {
    const id = JSON.stringify([key, variant, bucketStart]);
    let tally = this.counts.get(id);
    if (tally === undefined) {
      tally = { key, variant, bucketStart, events: 0, exceptions: 0, successTotal: 0, successes: 0, users: [], userSet: new Set() };
      this.counts.set(id, tally);
    }
    return tally;
  }

  result(): BatchTally {
    return {
      counts: [...this.counts.values()].map(({ userSet, ...tally }) => ({ ...tally, users: [...userSet] })),
      exposures: [...this.exposures].map(([key, at]) => ({ key, at })),
    };
  }
}

/** The tallies of a set of messages. */
export function tallyMessages(messages: Iterable<string>, watch: TallyWatch): BatchTally {
  const tallier = new Tallier(watch);
  for (const message of messages) tallier.add(message);
  return tallier.result();
}
