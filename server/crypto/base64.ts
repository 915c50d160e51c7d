/** Unpadded base64 as the Matrix spec uses it (appendix "Unpadded Base64"), standard and URL-safe. */

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

export function encodeBase64(bytes: Uint8Array): string {
  const padded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  // "=" appears only as padding at the end; slicing it off costs less than a regex replace.
  const padding = padded.indexOf("=");
  return padding === -1 ? padded : padded.slice(0, padding);
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Decodes standard or URL-safe base64, padded or not. Throws on any other character or an impossible length. */
export function decodeBase64(text: string): Buffer {
  if (!STANDARD.test(text) && !URL_SAFE.test(text)) throw new Error("invalid base64: unexpected character");
  const bare = text.replace(/=+$/, "");
  if (bare.length % 4 === 1) throw new Error("invalid base64: impossible length");
  return Buffer.from(bare.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}
