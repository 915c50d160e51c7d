/**
 * The X-Matrix Authorization scheme (spec: Server-Server API, "Request Authentication"): every federation request
 * carries a signature over `{method, uri, origin, destination, content?}` made with the origin's signing key.
 */
import type { KeyObject } from "node:crypto";
import { signJson, verifyJsonSignature, type JsonObject, type JsonValue, type SigningKey, type VerifyResult } from "../../crypto";

export interface XMatrixRequest {
  method: string;
  /** the raw request target: path and query exactly as sent, e.g. "/_matrix/federation/v1/send/1?x=y" */
  uri: string;
  origin: string;
  destination: string;
  /** the JSON-parsed request body; absent when the request has none */
  content?: JsonValue;
}

export interface XMatrixCredentials {
  origin: string;
  /** absent when an older server did not send it; the spec says to accept that */
  destination: string | undefined;
  /** the key ID with its algorithm, e.g. "ed25519:abc" */
  key: string;
  sig: string;
}

export type XMatrixErrorReason = "not_x_matrix" | "malformed" | "duplicate_param" | "missing_param";

/** Any reason to refuse an Authorization header; the inbound router answers 401 M_UNAUTHORIZED. */
export class XMatrixParseError extends Error {
  constructor(
    readonly reason: XMatrixErrorReason,
    message: string,
  ) {
    super(message);
    this.name = "XMatrixParseError";
  }
}

/** The JSON object that gets signed. */
function requestJson(request: XMatrixRequest): JsonObject {
  const json: JsonObject = {
    method: request.method,
    uri: request.uri,
    origin: request.origin,
    destination: request.destination,
  };
  if (request.content !== undefined) json.content = request.content;
  return json;
}

/**
 * The Authorization header value for a request. Follows the spec's advice for old receivers: one space, lower-case
 * names, every value quoted (server names and key IDs never need escapes; they would get them if they did).
 */
export function buildXMatrixAuthorization(request: XMatrixRequest, key: SigningKey): string {
  const signed = signJson(requestJson(request), request.origin, key);
  const sig = (signed.signatures as Record<string, Record<string, string>>)[request.origin]![key.keyId]!;
  const params: Array<[string, string]> = [
    ["origin", request.origin],
    ["destination", request.destination],
    ["key", key.keyId],
    ["sig", sig],
  ];
  return "X-Matrix " + params.map(([name, value]) => `${name}=${quote(value)}`).join(",");
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => "\\" + c)}"`;
}

// RFC 7230 §3.2.6 tchar.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses an Authorization header of scheme X-Matrix (RFC 7235 syntax as the spec describes it): scheme and
 * parameter names are case-insensitive; values are tokens or quoted strings with backslash escapes; bare values
 * may contain ':' for old senders; unknown parameters are ignored; a repeated parameter, a syntax error or a
 * missing origin, key or sig is an error.
 */
export function parseXMatrixHeader(header: string): XMatrixCredentials {
  const scheme = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ \t]+|$)/.exec(header);
  if (!scheme || scheme[1]!.toLowerCase() !== "x-matrix") {
    throw new XMatrixParseError("not_x_matrix", "Authorization header is not of scheme X-Matrix");
  }
  const params = parseParams(header, scheme[0].length);
  const required = (name: string): string => {
    const value = params.get(name);
    if (value === undefined) throw new XMatrixParseError("missing_param", `X-Matrix header has no ${name}`);
    if (value === "") throw new XMatrixParseError("malformed", `X-Matrix ${name} is empty`);
    return value;
  };
  const destination = params.get("destination");
  if (destination === "") throw new XMatrixParseError("malformed", "X-Matrix destination is empty");
  return { origin: required("origin"), destination, key: required("key"), sig: required("sig") };
}

function parseParams(text: string, start: number): Map<string, string> {
  const params = new Map<string, string>();
  let i = start;
  const fail = (what: string): never => {
    throw new XMatrixParseError("malformed", `malformed X-Matrix header: ${what} at character ${i + 1}`);
  };
  const skipSpaces = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  };

  for (;;) {
    // The list rule (RFC 7230 §7) allows empty elements: ", ,".
    skipSpaces();
    while (text[i] === ",") {
      i++;
      skipSpaces();
    }
    if (i >= text.length) break;

    const nameStart = i;
    while (i < text.length && TCHAR.test(text[i]!)) i++;
    if (i === nameStart) fail("expected a parameter name");
    const name = text.slice(nameStart, i).toLowerCase();
    skipSpaces();
    if (text[i] !== "=") fail(`expected "=" after ${name}`);
    i++;
    skipSpaces();

    let value = "";
    if (text[i] === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === "\\") {
          i++;
          if (i >= text.length) break;
          const escaped = text[i]!;
          if (!isQuotedChar(escaped, true)) fail("invalid escaped character");
          value += escaped;
        } else {
          if (!isQuotedChar(c, false)) fail("invalid character in quoted value");
          value += c;
        }
        i++;
      }
      if (!closed) fail("unterminated quoted value");
    } else {
      const valueStart = i;
      while (i < text.length && (TCHAR.test(text[i]!) || text[i] === ":")) i++;
      if (i === valueStart) fail(`expected a value for ${name}`);
      value = text.slice(valueStart, i);
    }

    if (params.has(name)) throw new XMatrixParseError("duplicate_param", `X-Matrix parameter ${name} appears twice`);
    params.set(name, value);

    skipSpaces();
    if (i >= text.length) break;
    if (text[i] !== ",") fail('expected "," between parameters');
  }
  return params;
}

/** qdtext / quoted-pair characters (RFC 7230 §3.2.6): tab, space, visible ASCII, obs-text; '"' and '\' only escaped. */
function isQuotedChar(c: string, escaped: boolean): boolean {
  const code = c.charCodeAt(0);
  if (code === 0x09 || code === 0x20) return true;
  if (code === 0x7f || code < 0x20) return false;
  if (!escaped && (c === '"' || c === "\\")) return false;
  return true;
}

/**
 * Verifies the signature of an inbound request. `destination` is the header's value, or our own server name
 * when an older sender omitted it (the signed JSON always held it). `content` is the parsed body, if any.
 */
export function verifyXMatrixRequest(
  request: XMatrixRequest & { key: string; sig: string },
  publicKey: KeyObject,
): VerifyResult {
  const json = requestJson(request);
  json.signatures = { [request.origin]: { [request.key]: request.sig } };
  return verifyJsonSignature(json, request.origin, request.key, publicKey);
}
