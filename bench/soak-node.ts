/**
 * One Switchyard process for the soak (bench/soak.ts): `tsx bench/soak-node.ts --config FILE --role R --instance I
 * --port N`. A HomeServer on node:http with the engine's routes only (no Next), so that the soak can SIGKILL it for
 * real. `main` also answers two loopback-only control calls through the tRPC API, so the soak drives the rooms
 * engine as the console would:
 *   POST /_soak/setup {"rooms": n} → {"room_ids": [...]} (public rooms remote servers can join)
 *   POST /_soak/send {"room_id", "body"}          → {"event_id"}
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { z } from "zod";
import { createCaller } from "../server/api/root";
import { loadConfig } from "../server/config";
import { HomeServer } from "../server/homeserver";
import { answerClientError } from "../server/http/client-error";

const SOAK_USER = "soaker";

const setupSchema = z.object({ rooms: z.number().int().min(1).max(20) });
const sendSchema = z.object({ room_id: z.string().min(1), body: z.string().min(1) });

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { "content-type": "application/json", "content-length": bytes.length }).end(bytes);
}

async function control(hs: HomeServer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const api = createCaller({ hs, authenticated: true });
  const user = `@${SOAK_USER}:${hs.config.server_name}`;
  try {
    if (req.method === "POST" && req.url === "/_soak/setup") {
      const { rooms } = setupSchema.parse(await readJson(req));
      await api.users.create({ localpart: SOAK_USER });
      const roomIds: string[] = [];
      for (let i = 0; i < rooms; i++) {
        roomIds.push((await api.rooms.create({ creator: user, room_version: "10", preset: "public_chat", name: `soak ${i}` })).room_id);
      }
      return answer(res, 200, { room_ids: roomIds });
    }
    if (req.method === "POST" && req.url === "/_soak/send") {
      const { room_id, body } = sendSchema.parse(await readJson(req));
      const sent = await api.rooms.send({ user_id: user, room_id, type: "m.room.message", content: { msgtype: "m.text", body } });
      return answer(res, 200, { event_id: sent.event_id });
    }
    answer(res, 404, { errcode: "M_UNRECOGNIZED", error: "unknown soak control call" });
  } catch (e) {
    answer(res, 500, { errcode: "M_UNKNOWN", error: (e as Error).message });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: "string" }, role: { type: "string" }, instance: { type: "string" }, port: { type: "string" } },
    strict: true,
  });
  if (!values.config || !values.port) throw new Error("usage: soak-node.ts --config FILE --role R --instance I --port N");
  const config = loadConfig(values.config, { role: values.role, instance_name: values.instance, port: Number(values.port) });
  const hs = await HomeServer.create(config);
  const isMain = config.role === "main";
  const server = createServer((req, res) => {
    if (isMain && req.url?.startsWith("/_soak/")) void control(hs, req, res);
    else void hs.handleRequest(req, res);
  });
  server.on("clientError", answerClientError);
  server.keepAliveTimeout = 75_000;
  const listener = config.listeners[0]!;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listener.port, "127.0.0.1", () => resolve());
  });
  // the soak waits for this line before it counts the process as up
  process.stdout.write(`ready ${config.instance_name}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`soak-node: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
