/**
 * A small router for the engine's HTTP endpoints (/_matrix, /_synapse, /.well-known/matrix): exact body bytes,
 * a body cap per route, Matrix JSON errors for everything that goes wrong (404/405 M_UNRECOGNIZED included), and
 * an authenticator per route. Handlers never see Node's request or response objects.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { MatrixError, badJson, notJson, tooLarge } from "./matrix-error";
import { parseStrictJson, type JsonValue } from "../crypto";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface RequestInfo {
  method: string;
  /** raw path and query as sent: what X-Matrix signatures cover */
  uri: string;
  path: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: Buffer;
  remoteAddress: string | undefined;
}

export interface RequestContext<A> extends RequestInfo {
  /** what the route's authenticator returned (e.g. the origin server name) */
  auth: A;
  /** the body as JSON; strict numbers (no floats, no unsafe integers) unless `lenient` */
  json(options?: { lenient?: boolean }): JsonValue;
}

export interface HandlerResult {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type Authenticator<A> = (info: RequestInfo) => Promise<A> | A;

interface Route {
  method: string;
  segments: string[];
  maxBodyBytes: number;
  authenticate: Authenticator<unknown>;
  handler: (ctx: RequestContext<unknown>) => Promise<HandlerResult> | HandlerResult;
}

export interface RouteOptions<A> {
  authenticate: Authenticator<A>;
  maxBodyBytes?: number;
}

export const noAuth: Authenticator<null> = () => null;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly log: Logger) {}

  /** `pattern` is a path with `:name` segments, e.g. `/_matrix/federation/v1/send/:txnId`. */
  add<A>(method: string, pattern: string, options: RouteOptions<A>, handler: (ctx: RequestContext<A>) => Promise<HandlerResult> | HandlerResult): void {
    this.routes.push({
      method,
      segments: pattern.split("/"),
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      authenticate: options.authenticate,
      handler: handler as Route["handler"],
    });
  }

  /** True when some route's path could match (so the caller routes the request here at all). */
  handles(path: string): boolean {
    return this.routes.some((r) => match(r.segments, path.split("/")) !== null);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    let status = 500;
    try {
      const result = await this.dispatch(req);
      status = result.status ?? 200;
      send(res, status, result.body, result.headers);
    } catch (e) {
      if (e instanceof MatrixError) {
        status = e.status;
        send(res, e.status, e.toJSON());
        if (e.status >= 500) this.log.error("request failed", { method: req.method, uri: req.url, error: e.message });
      } else {
        status = 500;
        this.log.error("unhandled error in request", { method: req.method, uri: req.url, error: (e as Error).stack ?? String(e) });
        send(res, 500, { errcode: "M_UNKNOWN", error: "Internal server error" });
      }
    } finally {
      this.log.debug("request", { method: req.method, uri: req.url, status, ms: Date.now() - started });
    }
  }

  private async dispatch(req: IncomingMessage): Promise<HandlerResult> {
    const method = req.method ?? "GET";
    const uri = req.url ?? "/";
    const q = uri.indexOf("?");
    const path = q < 0 ? uri : uri.slice(0, q);
    const parts = path.split("/");
    let pathMatched = false;
    for (const route of this.routes) {
      const params = match(route.segments, parts);
      if (!params) continue;
      pathMatched = true;
      if (route.method !== method && !(method === "HEAD" && route.method === "GET")) continue;
      const body = await readBody(req, route.maxBodyBytes);
      const info: RequestInfo = {
        method, uri, path, params,
        query: new URLSearchParams(q < 0 ? "" : uri.slice(q + 1)),
        headers: req.headers, body, remoteAddress: req.socket.remoteAddress,
      };
      const auth = await route.authenticate(info);
      return route.handler({ ...info, auth, json: (options) => parseJsonBody(body, options) });
    }
    req.resume();
    if (pathMatched) throw new MatrixError(405, "M_UNRECOGNIZED", `Unsupported method ${method} for ${path}`);
    throw new MatrixError(404, "M_UNRECOGNIZED", "Unrecognized request");
  }
}

function match(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const part = parts[i]!;
    if (p.startsWith(":")) {
      if (part === "") return null;
      let decoded: string;
      try {
        decoded = decodeURIComponent(part);
      } catch {
        return null;
      }
      params[p.slice(1)] = decoded;
    } else if (p !== part) {
      return null;
    }
  }
  return params;
}

/**
 * A request body as JSON: valid UTF-8 and JSON (else 400 M_NOT_JSON); unless `lenient`, numbers must also be
 * canonical JSON numbers — integers within ±(2^53−1) — (else 400 M_BAD_JSON), since signatures cover them.
 */
export function parseJsonBody(body: Buffer, { lenient = false }: { lenient?: boolean } = {}): JsonValue {
  if (body.length === 0) throw notJson("Request body is empty; expected JSON");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw notJson("Request body is not valid UTF-8");
  }
  try {
    return lenient ? (JSON.parse(text) as JsonValue) : parseStrictJson(text);
  } catch (e) {
    if (e instanceof SyntaxError) throw notJson(`Content not JSON: ${e.message}`);
    throw badJson(`Content is not canonical JSON: ${(e as Error).message}`);
  }
}

/** Reads the whole body, refusing more than `limit` bytes (declared or actual) with 413 M_TOO_LARGE. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(`Request body of ${declared} bytes is over the limit of ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge(`Request body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const buffer = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body), "utf8");
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": String(buffer.length),
    "Cache-Control": "no-cache, no-store, must-revalidate",
    ...headers,
  });
  res.end(buffer);
}
