/** The streams Switchyard replicates, by name; row shapes follow Synapse's so the same lines mean the same. */
import type { StreamDefinition } from "./base";
import { CachesStream } from "./caches";
import { DeviceListsStream } from "./device-lists";
import { EventsStream } from "./events";
import { FederationStream } from "./federation";
import { PresenceStream } from "./presence";
import { ReceiptsStream } from "./receipts";
import { ToDeviceStream } from "./to-device";
import { TypingStream } from "./typing";

export * from "./base";
export * from "./caches";
export * from "./device-lists";
export * from "./events";
export * from "./federation";
export * from "./memory-writer";
export * from "./presence";
export * from "./receipts";
export * from "./to-device";
export * from "./typing";

export const ALL_STREAMS: readonly StreamDefinition[] = [
  EventsStream, FederationStream, TypingStream, ReceiptsStream, PresenceStream, ToDeviceStream, DeviceListsStream, CachesStream,
];

export function streamsByName(streams: readonly StreamDefinition[]): ReadonlyMap<string, StreamDefinition> {
  return new Map(streams.map((s) => [s.name, s]));
}
