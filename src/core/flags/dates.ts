// Date handling for `is_date_before` / `is_date_after`, as posthog-node 5.70 does it.
// Absolute dates go through the platform `Date` parser on purpose: matching posthog-node means
// accepting exactly what V8 accepts. A date-time without an offset is read in the host's local
// time zone, which is UTC in the Convex runtime (and what the conformance vectors assume).

import { BoundedCache } from "./memo.js";

// Optional "-", digits, one lowercase unit. The sign means nothing: "7d" is also 7 days ago.
const RELATIVE_DATE = /^-?([0-9]+)([a-z])$/;
const RELATIVE_UNITS = "hdwmy";

const parsedDates = new BoundedCache<string, number>(4096);

/** Epoch ms of a relative date filter counted back from `now`, or undefined if not relative. */
export function relativeDateTime(text: string, now: number): number | undefined {
  const match = RELATIVE_DATE.exec(text);
  if (match === null) return undefined;
  const amount = parseInt(match[1]!, 10);
  const unit = match[2]!;
  if (amount >= 10000 || !RELATIVE_UNITS.includes(unit)) return undefined;

  const date = new Date(now);
  switch (unit) {
    case "h":
      date.setUTCHours(date.getUTCHours() - amount);
      break;
    case "d":
      date.setUTCDate(date.getUTCDate() - amount);
      break;
    case "w":
      date.setUTCDate(date.getUTCDate() - amount * 7);
      break;
    case "m":
      subtractMonths(date, amount);
      break;
    default:
      subtractYears(date, amount);
  }
  return date.getTime();
}

function isRelativeDate(text: string): boolean {
  const match = RELATIVE_DATE.exec(text);
  return match !== null && parseInt(match[1]!, 10) < 10000 && RELATIVE_UNITS.includes(match[2]!);
}

// PostHog clamps the day after every single month step, so Mar 31 − 2 months is Jan 28,
// not Jan 31. Once the day is 28 or less no month can clamp it further.
function subtractMonths(date: Date, months: number): void {
  const year = date.getUTCFullYear();
  const month = date.getUTCMonth();
  let day = date.getUTCDate();
  for (let step = 1; step <= months && day > 28; step++) {
    day = Math.min(day, daysInMonth(year, month - step));
  }
  date.setUTCFullYear(year, month - months, day);
}

function daysInMonth(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one; Date.UTC normalises month overflow.
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

// Feb 29 becomes Feb 28: the year before a leap year is never a leap year.
function subtractYears(date: Date, years: number): void {
  const month = date.getUTCMonth();
  const day = years > 0 && month === 1 && date.getUTCDate() === 29 ? 28 : date.getUTCDate();
  date.setUTCFullYear(date.getUTCFullYear() - years, month, day);
}

/** Epoch ms of a string or number (epoch ms) as `new Date(value)` reads it; NaN if invalid. */
function platformDateTime(value: string | number): number {
  if (typeof value === "number") return new Date(value).getTime();
  const cached = parsedDates.get(value);
  return cached !== undefined ? cached : parsedDates.set(value, new Date(value).getTime());
}

/**
 * Epoch ms of a context value: a Date is taken as is (even an invalid one, which then compares
 * false both ways), strings and numbers are parsed. Undefined when it cannot be a date.
 */
export function contextDateTime(value: unknown): number | undefined {
  if (value instanceof Date) return value.getTime();
  if (typeof value !== "string" && typeof value !== "number") return undefined;
  const time = platformDateTime(value);
  return Number.isNaN(time) ? undefined : time;
}

/** Epoch ms of a filter value: relative first, then absolute. Undefined when unusable. */
export function filterDateTime(value: unknown, now: number): number | undefined {
  if (typeof value === "boolean") return undefined;
  return relativeDateTime(String(value), now) ?? contextDateTime(value);
}

/** Whether `filterDateTime` can ever succeed for this value (it does not depend on `now`). */
export function isUsableDateFilter(value: unknown): boolean {
  if (typeof value === "boolean") return false;
  return isRelativeDate(String(value)) || contextDateTime(value) !== undefined;
}
