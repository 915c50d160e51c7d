/**
 * Canonical JSON (spec appendix "Canonical JSON"): object keys sorted by Unicode code point, no insignificant
 * whitespace, UTF-8, only the short escapes JSON requires, integers within ±(2^53−1). Floats and out-of-range
 * numbers are refused, because two implementations would not print them the same way.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER;

export class CanonicalJsonError extends Error {
  constructor(message: string, readonly path: string) {
    super(path ? `${message} at ${path}` : message);
    this.name = "CanonicalJsonError";
  }
}

/** Compares by code point: JavaScript's default sort compares UTF-16 units, which misorders astral characters. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (0xD800–0xDFFF) stand for code points above 0xFFFF, so they rank above 0xE000–0xFFFF.
    const sa = ca >= 0xd800 && ca <= 0xdfff ? ca + 0x2000 : ca >= 0xe000 ? ca - 0x800 : ca;
    const sb = cb >= 0xd800 && cb <= 0xdfff ? cb + 0x2000 : cb >= 0xe000 ? cb - 0x800 : cb;
    return sa - sb;
  }
  return a.length - b.length;
}

const SURROGATE = /[\uD800-\uDFFF]/;
/** The characters JSON.stringify may escape: a lone surrogate is escaped and a pair is not, so both go to it. */
const MAY_NEED_ESCAPE = /["\\\u0000-\u001F\uD800-\uDFFF]/;

function encodeString(s: string): string {
  // JSON.stringify emits exactly the escapes canonical JSON wants: \" \\ \b \f \n \r \t, \u00XX for other
  // control characters, and (since ES2019) \uXXXX for lone surrogates; everything else is left as is. Most
  // strings hold none of those characters, and quoting them directly is about twice as fast as JSON.stringify.
  return MAY_NEED_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** Where in the value the encoder is: kept as a stack and turned into text only for an error message. */
type Path = Array<string | number>;

function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

function encode(value: unknown, path: Path): string {
  switch (typeof value) {
    case "string":
      return encodeString(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isInteger(value)) throw new CanonicalJsonError("floats are not allowed in canonical JSON", pathText(path));
      if (value > MAX_SAFE_INTEGER || value < -MAX_SAFE_INTEGER) {
        throw new CanonicalJsonError("integer out of range ±(2^53−1)", pathText(path));
      }
      return Object.is(value, -0) ? "0" : String(value);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          out += (i > 0 ? "," : "") + encode(value[i], path);
          path.pop();
        }
        return out + "]";
      }
      return encodeObject(value as Record<string, unknown>, [], path);
    }
    default:
      throw new CanonicalJsonError(`${typeof value} is not a JSON value`, pathText(path));
  }
}

function encodeObject(object: Record<string, unknown>, omit: readonly string[], path: Path): string {
  const keys = Object.keys(object);
  // UTF-16 order (the native sort) equals code point order unless a key holds a surrogate pair.
  keys.sort(keys.some((k) => SURROGATE.test(k)) ? compareCodePoints : undefined);
  let out = "{";
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined || omit.includes(key)) continue;
    path.push(key);
    out += (first ? "" : ",") + encodeString(key) + ":" + encode(item, path);
    path.pop();
    first = false;
  }
  return out + "}";
}

/** The canonical JSON text of a value. */
export function canonicalJson(value: unknown): string {
  return encode(value, []);
}

/**
 * The canonical JSON text of `object` without its top-level keys listed in `omit`, as signing and hashing need:
 * cheaper than encoding a copy made without them.
 */
export function canonicalJsonWithout(object: JsonObject, omit: readonly string[]): string {
  return encodeObject(object, omit, []);
}

/** The canonical JSON of a value as UTF-8 bytes: what gets signed and hashed. */
export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), "utf8");
}

/**
 * Parses JSON text strictly for Matrix: integers beyond ±(2^53−1) and floats are refused rather than silently
 * rounded, and duplicate keys are kept as JSON.parse does (last wins). Throws CanonicalJsonError.
 */
export function parseStrictJson(text: string): JsonValue {
  const value = JSON.parse(text) as JsonValue;
  // Every float has a digit before its "." or exponent, and every unsafe integer has 16+ digits: only then can the
  // source hold a number canonical JSON refuses, so only then is it scanned (JSON.parse has already rounded them).
  if (/[0-9][eE.]|[0-9]{16,}/.test(text)) assertNoUnsafeNumberLiterals(text);
  return value;
}

/** Scans the JSON source for number literals that JSON.parse would have rounded or turned into floats. */
function assertNoUnsafeNumberLiterals(text: string): void {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    if (c === "-" || (c >= "0" && c <= "9")) {
      let j = i;
      while (j < text.length && /[-+0-9eE.]/.test(text[j]!)) j++;
      const literal = text.slice(i, j);
      if (/[eE.]/.test(literal)) throw new CanonicalJsonError(`float ${literal} is not allowed`, "");
      const big = BigInt(literal);
      if (big > BigInt(MAX_SAFE_INTEGER) || big < -BigInt(MAX_SAFE_INTEGER)) {
        throw new CanonicalJsonError(`integer ${literal} out of range ±(2^53−1)`, "");
      }
      i = j - 1;
    }
  }
}
