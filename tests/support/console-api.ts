/**
 * The console API (`/api/trpc`) of a test HomeServer on a loopback port, served by the same fetch handler set-up
 * as app/api/trpc/[trpc]/route.ts but without Next: for tests of API clients such as the CLI's `admin`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter } from "../../server/api/root";
import { createTRPCContext } from "../../server/api/trpc";
import type { HomeServer } from "../../server/homeserver";

export interface ConsoleApi {
  url: string;
  close(): Promise<void>;
}

export async function serveConsoleApi(hs: HomeServer): Promise<ConsoleApi> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(name, value);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks);
      const request = new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body });
      const response = await fetchRequestHandler({
        endpoint: "/api/trpc", req: request, router: appRouter, createContext: () => createTRPCContext({ hs, headers: request.headers }),
      });
      res.writeHead(response.status, Object.fromEntries(response.headers));
      if (!response.body) return void res.end();
      Readable.fromWeb(response.body as import("node:stream/web").ReadableStream).pipe(res);
    })().catch((e: Error) => res.writeHead(500).end(e.message));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
