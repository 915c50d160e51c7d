/** The server software's name and version, as `/_matrix/federation/v1/version` reports them. */
import { readFileSync } from "node:fs";

export const SERVER_SOFTWARE = "Switchyard";
export const SERVER_VERSION: string = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
