/** Dispatches argv to a command of the table and turns every failure into one `error: ...` line and status 1. */
import { parseArgs } from "node:util";
import { CliError, type CliCommand, type CliIo } from "./command";
import { COMMANDS } from "./commands";

const PROGRAM = "npm run --silent cli --";

function usageOf(command: CliCommand): string {
  return `${PROGRAM} ${command.name}${command.usage ? " " + command.usage : ""}`;
}

function overview(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `usage: ${PROGRAM} <command> [flags]; JSON input on stdin, results on stdout\n\ncommands:\n${lines.join("\n")}\n\n'<command> --help' shows a command's flags.\n`;
}

/** parseArgs explains itself at length; its first sentence is the part that helps. */
function flagError(e: Error, command: CliCommand): CliError {
  const first = e.message.split(". ")[0]!;
  return new CliError(`${first} (usage: ${usageOf(command)})`);
}

export async function runCli(argv: readonly string[], io: CliIo, commands: readonly CliCommand[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "help" || name === "--help" || name === "-h") {
    io.stdout(overview(commands));
    return 0;
  }
  try {
    if (name === undefined) throw new CliError(`no command given; commands: ${commands.map((c) => c.name).join(", ")}`);
    const command = commands.find((c) => c.name === name);
    if (!command) throw new CliError(`unknown command ${JSON.stringify(name)}; commands: ${commands.map((c) => c.name).join(", ")}`);
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: [...rest],
        options: { ...command.options, help: { type: "boolean", short: "h" } },
        strict: true,
        allowPositionals: command.allowPositionals ?? false,
      });
    } catch (e) {
      throw flagError(e as Error, command);
    }
    if (parsed.values.help) {
      io.stdout(`usage: ${usageOf(command)}\n${command.summary}\n`);
      return 0;
    }
    await command.run({ values: parsed.values, positionals: parsed.positionals }, io);
    return 0;
  } catch (e) {
    io.stderr(`error: ${(e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, " ")}\n`);
    return 1;
  }
}
