/** Runs the CLI as users do (`node --import tsx server/cli.ts ...`), with `stdin` piped in. */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runCli } from "../../server/cli/run";

export const ROOT = join(import.meta.dirname, "..", "..");

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** SWITCHYARD_CONFIG is cleared, so only the flags a test passes count. */
export function runCliProcess(args: string[], stdin = ""): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.SWITCHYARD_CONFIG;
    const child = spawn(process.execPath, ["--import", "tsx", "server/cli.ts", ...args], { cwd: ROOT, stdio: "pipe", env });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** The same command table in this process: for runs that need no child process (bad flags, API clients). */
export async function runCliInProcess(args: string[]): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, {
    readStdin: async () => "",
    readFile: (path) => readFile(path, "utf8"),
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
  });
  return { code, stdout, stderr };
}
