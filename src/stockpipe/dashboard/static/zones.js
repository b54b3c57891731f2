// Time zones for display. The API speaks UTC ('...Z'); the page shows exchange time
// (America/New_York) by default, or UTC, and labels the zone on every axis and KPI.
// Intl does the conversion, so daylight saving time is right without a date library.
"use strict";

const ZONES = {
  et: { tz: "America/New_York", label: "ET" },
  utc: { tz: "UTC", label: "UTC" },
};
const _partsCache = {};

function zoneOf(key) { return ZONES[key] || ZONES.et; }

// {y, mo, d, h, mi, s, wd} of an instant in a zone (numbers, wd as "Mon").
function zoneParts(date, key) {
  const tz = zoneOf(key).tz;
  const f = _partsCache[tz] || (_partsCache[tz] = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", weekday: "short",
  }));
  const out = {};
  for (const p of f.formatToParts(date)) out[p.type] = p.value;
  return { y: +out.year, mo: +out.month, d: +out.day, h: +out.hour % 24, mi: +out.minute, s: +out.second, wd: out.weekday };
}

const pad2 = (n) => String(n).padStart(2, "0");

// "2026-01-06T16:29:00Z" -> "11:29" / "01-06 11:29" / "2026-01-06 11:29:00" in the zone.
function zoneLabel(iso, key, style) {
  const p = zoneParts(new Date(iso), key);
  const hm = pad2(p.h) + ":" + pad2(p.mi);
  if (style === "time") return hm;
  if (style === "short") return pad2(p.mo) + "-" + pad2(p.d) + " " + hm;
  if (style === "clock") return hm + ":" + pad2(p.s);
  return p.y + "-" + pad2(p.mo) + "-" + pad2(p.d) + " " + hm + ":" + pad2(p.s);
}

// The local date of an instant in the zone, "YYYY-MM-DD".
function zoneDate(iso, key) {
  const p = zoneParts(new Date(iso), key);
  return p.y + "-" + pad2(p.mo) + "-" + pad2(p.d);
}

// A datetime-local value ("YYYY-MM-DDTHH:MM") for an instant, in the zone.
function toZonedInput(iso, key) {
  if (!iso) return "";
  const p = zoneParts(new Date(iso), key);
  return p.y + "-" + pad2(p.mo) + "-" + pad2(p.d) + "T" + pad2(p.h) + ":" + pad2(p.mi);
}

// The UTC instant ("...Z") of a wall-clock time typed in the zone: guess, then correct by
// the zone's offset at the guess (twice, so a DST change between the two is handled).
function fromZonedInput(local, key) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local || "");
  if (!m) return "";
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  let guess = wall;
  for (let i = 0; i < 2; i++) {
    const p = zoneParts(new Date(guess), key);
    guess += wall - Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s);
  }
  return new Date(guess).toISOString().slice(0, 19) + "Z";
}
