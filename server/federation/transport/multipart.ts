/**
 * A small multipart/mixed reader (RFC 2046 §5.1) for federation media responses, which hold a JSON metadata part
 * and the media (or a Location) in a second part. The whole body is already in memory and size-capped.
 */

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface MultipartPart {
  /** header names lower-cased */
  headers: Record<string, string>;
  body: Buffer;
}

/** The boundary parameter of a multipart Content-Type, quoted or not. */
export function multipartBoundary(contentType: string | undefined): string {
  const match = contentType && /^\s*multipart\/[a-z0-9.+-]+\s*;(.*)$/is.exec(contentType);
  if (!match) throw new MultipartError(`expected a multipart Content-Type, got "${contentType ?? ""}"`);
  const param = /(?:^|;)\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(match[1]!);
  const boundary = param ? (param[1]?.replace(/\\(.)/g, "$1") ?? param[2]!) : "";
  if (!boundary || boundary.length > 70) throw new MultipartError("multipart Content-Type has no valid boundary");
  return boundary;
}

export function parseMultipart(contentType: string | undefined, body: Buffer): MultipartPart[] {
  const delimiter = Buffer.from(`--${multipartBoundary(contentType)}`, "latin1");
  const nextDelimiter = Buffer.concat([Buffer.from("\r\n"), delimiter]);
  // The first delimiter may open the body; later ones always follow a CRLF.
  let pos = 0;
  if (!body.subarray(0, delimiter.length).equals(delimiter)) {
    const found = body.indexOf(nextDelimiter);
    if (found < 0) throw new MultipartError("multipart body has no boundary");
    pos = found + 2;
  }

  const parts: MultipartPart[] = [];
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": the close delimiter
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++; // transport padding
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) throw new MultipartError("malformed multipart boundary line");
    pos += 2;
    const end = body.indexOf(nextDelimiter, pos);
    if (end < 0) throw new MultipartError("multipart body ends without a closing boundary");
    parts.push(parsePart(body.subarray(pos, end)));
    pos = end + 2;
  }
}

function parsePart(part: Buffer): MultipartPart {
  let headerText = "";
  let content: Buffer;
  if (part.subarray(0, 2).toString("latin1") === "\r\n") {
    content = part.subarray(2);
  } else {
    const split = part.indexOf("\r\n\r\n");
    if (split < 0) throw new MultipartError("multipart part has no blank line after its headers");
    headerText = part.subarray(0, split).toString("latin1");
    content = part.subarray(split + 4);
  }
  const headers: Record<string, string> = {};
  for (const line of headerText ? headerText.split("\r\n") : []) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MultipartError(`malformed multipart header line "${line}"`);
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body: content };
}
