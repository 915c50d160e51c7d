/** Matrix errors: `{"errcode": "M_...", "error": "..."}` with an HTTP status (spec: "Standard error response"). */

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    /** extra fields of the error body, e.g. retry_after_ms */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "MatrixError";
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const badJson = (message: string) => new MatrixError(400, "M_BAD_JSON", message);
export const notJson = (message: string) => new MatrixError(400, "M_NOT_JSON", message);
export const invalidParam = (message: string) => new MatrixError(400, "M_INVALID_PARAM", message);
export const missingParam = (message: string) => new MatrixError(400, "M_MISSING_PARAM", message);
export const unauthorized = (message: string) => new MatrixError(401, "M_UNAUTHORIZED", message);
export const forbidden = (message: string) => new MatrixError(403, "M_FORBIDDEN", message);
export const notFound = (message: string) => new MatrixError(404, "M_NOT_FOUND", message);
export const tooLarge = (message: string) => new MatrixError(413, "M_TOO_LARGE", message);
export const limitExceeded = (message: string, retryAfterMs: number) =>
  new MatrixError(429, "M_LIMIT_EXCEEDED", message, { retry_after_ms: retryAfterMs });
