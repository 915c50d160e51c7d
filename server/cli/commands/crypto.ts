/**
 * The crypto commands (DESIGN.md §6): keys, canonical JSON, JSON signatures and the per-room-version event
 * algorithms, for checking another implementation's output by hand or from scripts.
 */
import type { KeyObject } from "node:crypto";
import {
  encodeBase64,
  formatSigningKeyFile,
  generateSigningKey,
  publicKeyFromBase64,
  signJson,
  verifyJsonSignature,
  type JsonObject,
} from "../../crypto";
import {
  computeContentHash,
  computeEventId,
  computeReferenceHash,
  computeRoomId,
  getRoomVersion,
  parsePdu,
  redactEvent,
  signEvent,
  type RoomVersion,
} from "../../events";
import { CliError, printJson, readJsonObject, readSigningKeys, requiredFlag, stringFlag, type CliCommand, type FlagValues } from "../command";

const ROOM_VERSION_OPTION = { "room-version": { type: "string" } } as const;
const SIGNER_OPTIONS = { "server-name": { type: "string" }, "key-file": { type: "string" } } as const;

function roomVersionFlag(values: FlagValues): RoomVersion {
  return getRoomVersion(requiredFlag(values, "room-version"));
}

const PUBLIC_KEY_FLAG = /^(ed25519:[A-Za-z0-9_]+)=([A-Za-z0-9+/_-]+={0,2})$/;

/** `ed25519:ID=BASE64` → [keyId, public key]. */
function parsePublicKeyFlag(flag: string): [string, KeyObject] {
  const match = PUBLIC_KEY_FLAG.exec(flag);
  if (!match) throw new CliError(`--public-key must look like ed25519:ID=BASE64, got ${JSON.stringify(flag)}`);
  try {
    return [match[1]!, publicKeyFromBase64(match[2]!)];
  } catch (e) {
    throw new CliError(`--public-key ${match[1]}: ${(e as Error).message}`);
  }
}

export const cryptoCommands: readonly CliCommand[] = [
  {
    name: "generate-key",
    summary: "print a new ed25519 signing key as a Synapse key file line",
    usage: "[--version V]",
    options: { version: { type: "string" } },
    async run({ values }, io) {
      const version = stringFlag(values, "version");
      try {
        io.stdout(formatSigningKeyFile(version === undefined ? generateSigningKey() : generateSigningKey(version)));
      } catch (e) {
        throw new CliError(`--version: ${(e as Error).message}`);
      }
    },
  },
  {
    name: "canonical-json",
    summary: "print the canonical JSON of the object on stdin",
    usage: "",
    options: {},
    async run(_args, io) {
      printJson(io, await readJsonObject(io, { lenient: true }));
    },
  },
  {
    name: "sign-json",
    summary: "sign the JSON object on stdin with the first key of a key file",
    usage: "--server-name S --key-file F",
    options: SIGNER_OPTIONS,
    async run({ values }, io) {
      const serverName = requiredFlag(values, "server-name");
      const [key] = await readSigningKeys(io, requiredFlag(values, "key-file"));
      printJson(io, signJson(await readJsonObject(io), serverName, key!));
    },
  },
  {
    name: "verify-json",
    summary: "check the server's signatures on the JSON object on stdin",
    usage: "--server-name S (--key-file F | --public-key ed25519:ID=BASE64 ...)",
    options: { "server-name": { type: "string" }, "key-file": { type: "string" }, "public-key": { type: "string", multiple: true } },
    async run({ values }, io) {
      const serverName = requiredFlag(values, "server-name");
      const keyFile = stringFlag(values, "key-file");
      const publicKeyFlags = (values["public-key"] ?? []) as string[];
      if ((keyFile === undefined) === (publicKeyFlags.length === 0)) throw new CliError("give either --key-file or --public-key");
      const keys = new Map<string, KeyObject>(
        keyFile === undefined ? publicKeyFlags.map(parsePublicKeyFlag) : (await readSigningKeys(io, keyFile)).map((k) => [k.keyId, k.publicKey]),
      );
      const object = await readJsonObject(io);
      const signatures = object.signatures;
      const byServer = typeof signatures === "object" && signatures !== null && !Array.isArray(signatures) ? signatures[serverName] : undefined;
      const signedWith = typeof byServer === "object" && byServer !== null ? Object.keys(byServer).filter((id) => keys.has(id)) : [];
      if (signedWith.length === 0) {
        throw new CliError(`not signed by ${serverName} with any of the given keys (${[...keys.keys()].join(", ")})`);
      }
      for (const keyId of signedWith) {
        const result = verifyJsonSignature(object, serverName, keyId, keys.get(keyId)!);
        if (!result.ok) throw new CliError(result.reason);
      }
      printJson(io, { valid: true });
    },
  },
  {
    name: "content-hash",
    summary: "print the content hash of the event on stdin",
    usage: "",
    options: {},
    async run(_args, io) {
      printJson(io, { sha256: encodeBase64(computeContentHash(await readJsonObject(io))) });
    },
  },
  {
    name: "reference-hash",
    summary: "print the reference hash of the event on stdin",
    usage: "--room-version V",
    options: ROOM_VERSION_OPTION,
    async run({ values }, io) {
      const version = roomVersionFlag(values);
      printJson(io, { sha256: encodeBase64(computeReferenceHash(await readJsonObject(io), version)) });
    },
  },
  {
    name: "event-id",
    summary: "print the event ID of the event on stdin (and the room ID a v12 create event defines)",
    usage: "--room-version V",
    options: ROOM_VERSION_OPTION,
    async run({ values }, io) {
      const version = roomVersionFlag(values);
      const event = parsePdu(await readJsonObject(io));
      const result: JsonObject = { event_id: computeEventId(event, version) };
      if (version.roomIdFormat === "create-event-hash" && event.type === "m.room.create") result.room_id = computeRoomId(event, version);
      printJson(io, result);
    },
  },
  {
    name: "redact",
    summary: "print the redacted form of the event on stdin",
    usage: "--room-version V",
    options: ROOM_VERSION_OPTION,
    async run({ values }, io) {
      const version = roomVersionFlag(values);
      printJson(io, redactEvent(await readJsonObject(io), version));
    },
  },
  {
    name: "sign-event",
    summary: "add the content hash and the server's signature to the event on stdin",
    usage: "--room-version V --server-name S --key-file F",
    options: { ...ROOM_VERSION_OPTION, ...SIGNER_OPTIONS },
    async run({ values }, io) {
      const version = roomVersionFlag(values);
      const serverName = requiredFlag(values, "server-name");
      const [key] = await readSigningKeys(io, requiredFlag(values, "key-file"));
      printJson(io, signEvent(await readJsonObject(io), version, serverName, key!));
    },
  },
];
