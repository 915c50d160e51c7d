/** Plain, greppable log lines on stderr: `time LEVEL [component] message key=value ...`. */
import type { Logger } from "./http/router";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

function formatField(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /[\s"=]/.test(text ?? "") ? JSON.stringify(text) : String(text);
}

export function createLogger(level: LogLevel, component = "", write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger & { child(component: string): Logger } {
  const min = LEVELS[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < min) return;
    const extras = fields ? Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}=${formatField(v)}`).join("") : "";
    write(`${new Date().toISOString()} ${lvl.toUpperCase().padEnd(5)} ${component ? `[${component}] ` : ""}${msg}${extras}`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (c) => createLogger(level, component ? `${component}/${c}` : c, write),
  };
}
