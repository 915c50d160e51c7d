/**
 * Which federation sender instance owns a destination (Synapse's ShardedWorkerHandlingConfig): the little-endian
 * integer of sha256(destination) modulo the number of instances picks one, so every process agrees without
 * talking and each destination has exactly one owner.
 */
import { createHash } from "node:crypto";

export function federationSenderFor(destination: string, instances: readonly string[]): string {
  if (instances.length === 0) throw new Error("no federation sender instances are configured");
  if (instances.length === 1) return instances[0]!;
  const digest = createHash("sha256").update(destination, "utf8").digest();
  const littleEndianHex = Buffer.from(digest).reverse().toString("hex");
  return instances[Number(BigInt(`0x${littleEndianHex}`) % BigInt(instances.length))]!;
}

export class FederationShardConfig {
  constructor(readonly instances: readonly string[]) {}

  ownerOf(destination: string): string {
    return federationSenderFor(destination, this.instances);
  }

  /** Synapse's should_handle: whether `instanceName` sends to `destination`. */
  shouldHandle(instanceName: string, destination: string): boolean {
    return this.ownerOf(destination) === instanceName;
  }
}
