/** Reads a response body into memory with a size cap (Synapse's read_body_with_max_size). */

export class BodyExceededMaxSize extends Error {
  constructor(readonly maxBytes: number) {
    super(`response body exceeds ${maxBytes} bytes`);
    this.name = "BodyExceededMaxSize";
  }
}

interface DestroyableBody extends AsyncIterable<Uint8Array> {
  destroy(error?: Error): unknown;
}

/**
 * Collects the body, stopping (and destroying the stream, so the connection is not kept for the rest) as soon as
 * it passes `maxBytes`. A declared Content-Length over the cap fails before anything is read.
 */
export async function readBodyWithMaxSize(body: DestroyableBody, maxBytes: number, contentLength?: string | string[]): Promise<Buffer> {
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength);
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy();
    throw new BodyExceededMaxSize(maxBytes);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      body.destroy();
      throw new BodyExceededMaxSize(maxBytes);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks, total);
}
