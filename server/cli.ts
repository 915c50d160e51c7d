/** The command line tool: `npm run --silent cli -- <command>` (see server/cli/commands for the commands). */
import { readFile } from "node:fs/promises";
import { CliError, type CliIo } from "./cli/command";
import { runCli } from "./cli/run";

const io: CliIo = {
  async readStdin() {
    // Waiting on a terminal for JSON nobody is going to type looks like a hang; say what is missing instead.
    if (process.stdin.isTTY) throw new CliError("expected a JSON object on standard input (pipe or redirect it)");
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
  readFile: (path) => readFile(path, "utf8"),
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

process.exitCode = await runCli(process.argv.slice(2), io);
