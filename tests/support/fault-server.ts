/**
 * A loopback federation receiver for the sender's fault tests: one node:http server answers /send for any number
 * of server names (federation_domain_overrides point them all at it), checks each request's X-Matrix signature,
 * records every attempt, and answers as scripted: 200, an error status, or never (a hang). `refuse()` closes the
 * port so connections are refused; `recover()` listens on the same port again.
 */
import type { KeyObject } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { JsonObject } from "../../server/crypto";
import { parseXMatrixHeader, verifyXMatrixRequest } from "../../server/federation/transport/x-matrix";

export type Behaviour = { status: number; body?: unknown } | "hang";

export const OK: Behaviour = { status: 200, body: { pdus: {} } };
export const ERROR_500: Behaviour = { status: 500, body: { errcode: "M_UNKNOWN", error: "scripted failure" } };

export interface SeenTransaction {
  /** the X-Matrix destination: which server name the request was for */
  destination: string;
  origin: string;
  txnId: string;
  pdus: JsonObject[];
  edus: { edu_type: string; content: JsonObject }[];
  signatureValid: boolean;
  /** what it was answered (null: left hanging) */
  status: number | null;
}

export class FaultServer {
  readonly seen: SeenTransaction[] = [];
  private readonly script: Behaviour[] = [];
  private fallback: Behaviour = OK;
  private held: Array<() => void> | null = null;
  private readonly hanging = new Set<ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;
  private listeningPort: number;

  private constructor(port: number, private readonly originKey: KeyObject) {
    this.listeningPort = port;
  }

  get port(): number {
    return this.listeningPort;
  }

  /** Listens on 127.0.0.1 (a free port, or `port`); requests are checked against the origin's public key. */
  static async start(originKey: KeyObject, port = 0): Promise<FaultServer> {
    const server = new FaultServer(port, originKey);
    await server.listen(port);
    return server;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Answers the next requests with these, in order; then the fallback. */
  answer(...behaviours: Behaviour[]): this {
    this.script.push(...behaviours);
    return this;
  }

  /** What requests get once the script is used up. */
  otherwise(behaviour: Behaviour): this {
    this.fallback = behaviour;
    return this;
  }

  /** Holds every answer until the returned release is called (requests are still recorded as they come). */
  hold(): () => void {
    this.held = [];
    return () => {
      const waiting = this.held ?? [];
      this.held = null;
      for (const go of waiting) go();
    };
  }

  /** Transactions answered with a 2xx. */
  delivered(destination?: string): SeenTransaction[] {
    return this.seen.filter((t) => t.status !== null && t.status >= 200 && t.status < 300 && (!destination || t.destination === destination));
  }

  /** Closes the port: connections are refused until recover(). */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    for (const res of this.hanging) res.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async recover(): Promise<void> {
    await this.listen(this.port);
  }

  close(): Promise<void> {
    return this.refuse();
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((req, res) => void this.onRequest(req, res));
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    this.listeningPort = (server.address() as AddressInfo).port;
    this.server = server;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const uri = req.url ?? "/";
    const match = /^\/_matrix\/federation\/v1\/send\/([^/?]+)$/.exec(uri);
    if (req.method !== "PUT" || !match) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "not /send" }));
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonObject & { pdus: JsonObject[]; edus?: SeenTransaction["edus"] };
    const credentials = parseXMatrixHeader(req.headers.authorization ?? "");
    const signatureValid = verifyXMatrixRequest(
      { method: "PUT", uri, origin: credentials.origin, destination: credentials.destination ?? "", content: body, key: credentials.key, sig: credentials.sig },
      this.originKey,
    ).ok;
    const seen: SeenTransaction = {
      destination: credentials.destination ?? "", origin: credentials.origin, txnId: decodeURIComponent(match[1]!),
      pdus: body.pdus, edus: body.edus ?? [], signatureValid, status: null,
    };
    this.seen.push(seen);
    const behaviour = this.script.shift() ?? this.fallback;
    if (this.held) await new Promise<void>((resolve) => this.held!.push(resolve));
    if (behaviour === "hang") {
      this.hanging.add(res);
      res.on("close", () => this.hanging.delete(res));
      return;
    }
    seen.status = behaviour.status;
    res.writeHead(behaviour.status, { "content-type": "application/json" }).end(JSON.stringify(behaviour.body ?? {}));
  }
}
