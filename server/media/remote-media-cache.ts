/**
 * RemoteMediaCache: other servers' media (federation GET /_matrix/federation/v1/media/download), kept on disk
 * under a total size bound, least recently used first out. Each item is two files named by a hash of
 * `server/mediaId`: the bytes and a small JSON description; file times record use, so the order survives a
 * restart. Concurrent requests for one item share one download. Media a server only names by a Location (it
 * lives on a CDN) is refused: fetching arbitrary URLs needs the outbound IP filter, which only the transport has.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { FederationMedia } from "../federation/transport/client";

export interface CachedMedia {
  contentType: string | undefined;
  contentDisposition: string | undefined;
  body: Buffer;
}

export interface RemoteMediaCacheOptions {
  dir: string;
  /** the bound on the bytes of all cached media together */
  maxBytes: number;
  /** the federation download (TransportLayerClient.downloadMedia) */
  download: (server: string, mediaId: string) => Promise<FederationMedia>;
}

interface Entry {
  key: string;
  size: number;
}

/** Spec: a media ID is opaque but made of URL-safe characters; anything else could escape the cache folder. */
const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;
const SERVER_NAME = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

const descriptionSchema = z.object({
  server: z.string(),
  media_id: z.string(),
  content_type: z.string().optional(),
  content_disposition: z.string().optional(),
  size: z.number().int().nonnegative(),
});

export class RemoteMediaCache {
  /** entries in least recently used order (a Map keeps insertion order; a use moves the entry to the end) */
  private readonly entries = new Map<string, Entry>();
  private readonly downloads = new Map<string, Promise<CachedMedia>>();
  private total = 0;
  private opened: Promise<void> | undefined;

  constructor(private readonly o: RemoteMediaCacheOptions) {}

  get usedBytes(): number {
    return this.total;
  }

  /** The media, from disk when cached, else downloaded from its server and cached. */
  async get(server: string, mediaId: string): Promise<CachedMedia> {
    if (!SERVER_NAME.test(server)) throw new Error(`invalid server name ${JSON.stringify(server)}`);
    if (!MEDIA_ID.test(mediaId)) throw new Error(`invalid media ID ${JSON.stringify(mediaId)}`);
    await (this.opened ??= this.load());
    const key = createHash("sha256").update(`${server}/${mediaId}`).digest("hex");
    const cached = await this.read(key);
    if (cached) return cached;
    let download = this.downloads.get(key);
    if (!download) {
      download = this.fetch(key, server, mediaId).finally(() => this.downloads.delete(key));
      this.downloads.set(key, download);
    }
    return download;
  }

  private path(key: string, kind: "bin" | "json"): string {
    return join(this.o.dir, `${key}.${kind}`);
  }

  /** Rebuilds the index from the folder, oldest use first. */
  private async load(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    const found: Array<Entry & { used: number }> = [];
    for (const name of await readdir(this.o.dir)) {
      if (!name.endsWith(".json")) continue;
      const key = name.slice(0, -".json".length);
      try {
        const description = descriptionSchema.parse(JSON.parse(await readFile(this.path(key, "json"), "utf8")));
        found.push({ key, size: description.size, used: (await stat(this.path(key, "json"))).mtimeMs });
      } catch {
        await this.remove(key);
      }
    }
    for (const entry of found.sort((a, b) => a.used - b.used)) {
      this.entries.set(entry.key, { key: entry.key, size: entry.size });
      this.total += entry.size;
    }
  }

  private async read(key: string): Promise<CachedMedia | null> {
    const entry = this.entries.get(key);
    if (!entry) return null;
    try {
      const description = descriptionSchema.parse(JSON.parse(await readFile(this.path(key, "json"), "utf8")));
      const body = await readFile(this.path(key, "bin"));
      this.entries.delete(key);
      this.entries.set(key, entry);
      const now = new Date();
      await utimes(this.path(key, "json"), now, now);
      return { contentType: description.content_type, contentDisposition: description.content_disposition, body };
    } catch {
      // Removed or damaged behind our back: download it again.
      await this.forget(key);
      return null;
    }
  }

  private async fetch(key: string, server: string, mediaId: string): Promise<CachedMedia> {
    const media = await this.o.download(server, mediaId);
    if (media.kind === "location") throw new Error(`${server} serves ${mediaId} from another location, which is not fetched`);
    const { body, contentType, contentDisposition } = media;
    if (body.length > this.o.maxBytes) throw new Error(`${server}/${mediaId} is ${body.length} bytes, more than the whole cache holds`);
    await this.evict(this.o.maxBytes - body.length);
    await writeFile(this.path(key, "bin"), body);
    const description = { server, media_id: mediaId, content_type: contentType, content_disposition: contentDisposition, size: body.length };
    // The description is written last: an item counts as cached only once both files are complete.
    await writeFile(this.path(key, "json"), JSON.stringify(description));
    this.entries.set(key, { key, size: body.length });
    this.total += body.length;
    return { contentType, contentDisposition, body };
  }

  /** Removes the least recently used items until at most `budget` bytes are cached. */
  private async evict(budget: number): Promise<void> {
    for (const entry of this.entries.values()) {
      if (this.total <= budget) return;
      await this.forget(entry.key);
    }
  }

  private async forget(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.total -= entry.size;
    }
    await this.remove(key);
  }

  private async remove(key: string): Promise<void> {
    await rm(this.path(key, "json"), { force: true });
    await rm(this.path(key, "bin"), { force: true });
  }
}
