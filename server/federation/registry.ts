/**
 * FederationRegistry: who handles each EDU type and each federation query type. A handler throws EduRejected
 * for content it refuses; the outcome of every EDU is kept for the console.
 */
export type EduHandler = (origin: string, content: unknown) => Promise<void>;
export type QueryHandler = (origin: string, args: URLSearchParams) => Promise<unknown>;

/** An EDU that was understood but refused (wrong sender server, malformed content). */
export class EduRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EduRejected";
  }
}

export type EduOutcome = "ok" | `ignored: ${string}` | `rejected: ${string}` | `failed: ${string}`;

export interface RegistryLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

export class FederationRegistry {
  private readonly eduHandlers = new Map<string, EduHandler>();
  private readonly queryHandlers = new Map<string, QueryHandler>();

  constructor(private readonly log: RegistryLogger) {}

  registerEduHandler(eduType: string, handler: EduHandler): void {
    if (this.eduHandlers.has(eduType)) throw new Error(`an EDU handler for ${eduType} is already registered`);
    this.eduHandlers.set(eduType, handler);
  }

  registerQueryHandler(queryType: string, handler: QueryHandler): void {
    if (this.queryHandlers.has(queryType)) throw new Error(`a query handler for ${queryType} is already registered`);
    this.queryHandlers.set(queryType, handler);
  }

  queryHandler(queryType: string): QueryHandler | undefined {
    return this.queryHandlers.get(queryType);
  }

  /** Hands one EDU to its handler. Never throws: a bad EDU must not fail the rest of its transaction. */
  async onEdu(origin: string, eduType: string, content: unknown): Promise<EduOutcome> {
    const handler = this.eduHandlers.get(eduType);
    if (!handler) return `ignored: no handler for ${eduType}`;
    try {
      await handler(origin, content);
      return "ok";
    } catch (e) {
      if (e instanceof EduRejected) return `rejected: ${e.message}`;
      this.log.warn("EDU handler failed", { origin, edu_type: eduType, error: (e as Error).message });
      return `failed: ${(e as Error).message}`;
    }
  }
}
