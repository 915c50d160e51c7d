/**
 * A private redis-server for one test file or benchmark, on a free loopback port with persistence off, so tests can
 * kill and restart it without touching the machine's Redis.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "./ports";

export { freePort };


/** Spawns a process and resolves once its output contains `ready`; rejects, with its output, if it exits first. */
export function spawnUntilReady(command: string, args: string[], ready: string, cwd?: string): Promise<ChildProcess> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString();
      if (output.includes(ready)) resolve(child);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => reject(new Error(`${command} exited (${code ?? signal}) before it was ready: ${output.slice(-2000)}`)));
  });
}

/** SIGKILLs a child (no chance to flush anything) and waits for it to be gone. */
export async function killHard(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again) on the same port, empty. */
  async restart(): Promise<void> {
    if (this.child) throw new Error("redis-server is already running");
    this.child = await spawnUntilReady("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], "Ready to accept connections");
  }

  /** Kills it with SIGKILL: every client connection drops at once. */
  async kill(): Promise<void> {
    await killHard(this.child);
    this.child = undefined;
  }
}
