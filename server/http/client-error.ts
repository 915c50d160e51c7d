/**
 * Answers requests Node's HTTP parser refuses (oversized headers, malformed request lines) with a Matrix error
 * instead of Node's bare 400/431, so every refusal a peer sees has an errcode.
 */
import type { Duplex } from "node:stream";

export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, body] = error.code === "HPE_HEADER_OVERFLOW"
    ? [431, "Request Header Fields Too Large", { errcode: "M_TOO_LARGE", error: "Request headers are too large" }]
    : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout", { errcode: "M_UNKNOWN", error: "Request timed out" }]
      : [400, "Bad Request", { errcode: "M_UNRECOGNIZED", error: "Malformed HTTP request" }];
  const text = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
}
