/**
 * Shared pieces for the transport tests: loopback HTTP(S) servers, a fake DNS resolver and the test certificates.
 * fixtures/: ca.pem is a throwaway test CA; server-cert.pem (key server-key.pem) is signed by it for peer.test,
 * delegated.test, target.test, localhost and IP 127.0.0.1, valid until 2126. The CA's key was discarded.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { DnsResolver, LookupAddress, SrvRecord } from "../../server/federation/transport/discovery";
import { waitUntil } from "../support/wait";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
export const TEST_CA = fixture("ca.pem");
const SERVER_CERT = fixture("server-cert.pem");
const SERVER_KEY = fixture("server-key.pem");

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
  /** the TLS SNI the client sent; false when none, undefined over plain HTTP */
  servername: string | false | undefined;
  socket: Socket;
}

export type Handler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

export interface TestServer {
  port: number;
  requests: SeenRequest[];
  /** TCP connections accepted so far */
  connections: number;
  setHandler(handler: Handler): void;
  close(): Promise<void>;
}

/** A server on 127.0.0.1 with an ephemeral port; HTTPS with the test certificate when `tls` is set. */
export async function startServer(handler: Handler, options: { tls?: boolean } = {}): Promise<TestServer> {
  let current = handler;
  const requests: SeenRequest[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      // Node sets `servername` on server-side TLS sockets; @types/node does not declare it.
      const tlsSocket = req.socket as TLSSocket & { servername?: string | false };
      const seen: SeenRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks),
        servername: options.tls ? (tlsSocket.servername ?? false) : undefined,
        socket: req.socket,
      };
      requests.push(seen);
      void Promise.resolve(current(seen, res)).catch((e: unknown) => {
        res.statusCode = 500;
        res.end(String(e));
      });
    });
  };
  const server: Server = options.tls ? createHttpsServer({ cert: SERVER_CERT, key: SERVER_KEY }, listener) : createHttpServer(listener);
  const sockets = new Set<Socket>();
  const state = { connections: 0 };
  server.on(options.tls ? "secureConnection" : "connection", (socket: Socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    get connections() {
      return state.connections;
    },
    setHandler(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

/** DNS answers from tables; records every query. Unknown names fail like a real NXDOMAIN. */
export class FakeResolver implements DnsResolver {
  readonly queries: string[] = [];
  constructor(
    readonly srv: Record<string, SrvRecord[]> = {},
    readonly hosts: Record<string, string[]> = {},
  ) {}

  async resolveSrv(name: string): Promise<SrvRecord[]> {
    this.queries.push(`SRV ${name}`);
    const records = this.srv[name];
    if (!records) throw Object.assign(new Error(`querySrv ENOTFOUND ${name}`), { code: "ENOTFOUND" });
    return records;
  }

  async lookup(hostname: string): Promise<LookupAddress[]> {
    this.queries.push(`A ${hostname}`);
    const addresses = this.hosts[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  }
}

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public ms = Date.UTC(2030, 0, 1)) {}
  now = () => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

/** Waits until `condition` holds, checking on each turn of the event loop (bounded, so a bug fails fast). */
export const waitFor = (condition: () => boolean, what: string): Promise<void> =>
  waitUntil(what, condition, { timeoutMs: 10_000, intervalMs: 5 });
