/** Every CLI command. A new group of commands goes in its own file here and is added to this list. */
import type { CliCommand } from "../command";
import { adminCommands } from "./admin";
import { cryptoCommands } from "./crypto";
import { federationCommands } from "./federation";

export const COMMANDS: readonly CliCommand[] = [...cryptoCommands, ...federationCommands, ...adminCommands];
