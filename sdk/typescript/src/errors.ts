import type { components } from "./openapi.js";

/** An RFC 9457 problem, as every error of the API is sent. */
export type ProblemDetails = components["schemas"]["ProblemDetails"];
/** One invalid field of a 422. */
export type FieldError = components["schemas"]["FieldError"];

/** An answer of the API with an error status (4xx, 5xx), carrying its problem details. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: ProblemDetails;
  readonly headers: Headers;

  constructor(status: number, problem: ProblemDetails, headers: Headers) {
    super(`${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.name = new.target.name;
    this.status = status;
    this.problem = problem;
    this.headers = headers;
  }

  get type(): string {
    return this.problem.type;
  }

  get title(): string {
    return this.problem.title;
  }

  get detail(): string | null {
    return this.problem.detail ?? null;
  }
}

/** 401: the key or token is missing, unknown, revoked or expired. */
export class AuthenticationFailed extends ApiError {}
/** 403: the credential may not do this (scope, environment, role). */
export class PermissionDenied extends ApiError {}
/** 404: no such object in this account and environment. */
export class NotFound extends ApiError {}
/** 409: a unique value taken, a state that forbids the change, or a concurrent request. */
export class Conflict extends ApiError {}

/** 422: the request is invalid; `errors` names the fields. */
export class ValidationFailed extends ApiError {
  get errors(): FieldError[] {
    return this.problem.errors ?? [];
  }
}

/** 429: over the rate limit (after the client's own retries, if any). */
export class RateLimited extends ApiError {
  /** Seconds the server asked to wait (`Retry-After`). */
  get retryAfter(): number | null {
    return retryAfterSeconds(this.headers);
  }
}

/** The server could not be reached (after the client's own retries, if any). */
export class NetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NetworkError";
  }
}

const BY_STATUS: Record<number, typeof ApiError> = {
  401: AuthenticationFailed,
  403: PermissionDenied,
  404: NotFound,
  409: Conflict,
  422: ValidationFailed,
  429: RateLimited,
};

/** The typed error for an error answer (its body read as problem details). */
export async function errorFor(response: Response): Promise<ApiError> {
  const text = await response.text();
  let problem: ProblemDetails;
  try {
    const parsed: unknown = JSON.parse(text);
    if (!parsed || typeof parsed !== "object" || !("title" in parsed)) throw new Error();
    problem = parsed as ProblemDetails;
  } catch {
    problem = {
      type: "about:blank",
      title: response.statusText || `HTTP ${response.status}`,
      status: response.status,
      detail: text.slice(0, 500) || null,
      errors: null,
    };
  }
  const Kind = BY_STATUS[response.status] ?? ApiError;
  return new Kind(response.status, problem, response.headers);
}

/** `Retry-After` in seconds (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(headers: Headers): number | null {
  const value = headers.get("retry-after");
  if (value === null) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}
