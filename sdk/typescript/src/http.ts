import { NetworkError, errorFor, retryAfterSeconds } from "./errors.js";

type Credentials =
  | { apiKey: string; accessToken?: never }
  | {
      /** An OAuth access token, or a function giving the current one (for refreshing). */
      accessToken: string | (() => string | Promise<string>);
      apiKey?: never;
    };

export type ClientOptions = Credentials & {
  /** The server's address, e.g. `https://crm.example.com` (with or without `/v3`). */
  baseUrl: string;
  /** Retries of one call on 429, 503 and (for idempotent calls) network errors. Default 3. */
  maxRetries?: number;
  /** The longest wait before a retry, whatever `Retry-After` says. Default 30 000 ms. */
  maxRetryDelayMs?: number;
  /** The longest wait for one attempt's answer (its headers). Default 30 000 ms. */
  timeoutMs?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
};

/** Per-call options. */
export interface CallOptions {
  /** Cancels the call, its retries and waits included. */
  signal?: AbortSignal;
  /** The `Idempotency-Key` of a POST (default: a new random one, reused by its retries). */
  idempotencyKey?: string;
  /** This call's wait for an answer (its headers) per attempt; 0: no limit. */
  timeoutMs?: number;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface Request extends CallOptions {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Query | undefined;
  /** A JSON body. */
  json?: unknown;
  /** Any other body, sent with `contentType`. A stream is never retried. */
  body?: string | Blob | Uint8Array | ReadableStream<Uint8Array>;
  contentType?: string;
  /** false: no Idempotency-Key (an endpoint that keeps none, such as a contact import). */
  idempotent?: boolean;
}

const RETRIED_STATUSES = new Set([429, 503]);
// Safe to send again after a network error: the method is idempotent, or a POST carries
// an idempotency key (the server answers a repeat with the first response).
const IDEMPOTENT_METHODS = new Set(["GET", "PUT", "DELETE"]);

/** Waits `ms`, or rejects when the signal aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** A random UUID (v4); `crypto.randomUUID` exists only in secure contexts in browsers. */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Sends requests: authentication, JSON, retries, idempotency keys, typed errors. */
export class Http {
  readonly baseUrl: string;
  private readonly credentials: Credentials;
  private readonly maxRetries: number;
  private readonly maxRetryDelayMs: number;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required");
    if (!options.apiKey && !options.accessToken) {
      throw new TypeError("an apiKey or an accessToken is required");
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, "").replace(/\/v3$/, "");
    this.credentials = options.apiKey
      ? { apiKey: options.apiKey }
      : { accessToken: options.accessToken! };
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** The JSON answer of a request (undefined for 204). */
  async json<T>(request: Request): Promise<T> {
    const response = await this.send(request);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** The answer of a request with a 2xx status; any other status is thrown as an ApiError. */
  async send(request: Request): Promise<Response> {
    const idempotencyKey =
      request.method === "POST" && request.idempotent !== false
        ? (request.idempotencyKey ?? newIdempotencyKey())
        : undefined;
    const replayable = !(request.body instanceof ReadableStream);
    const safeAfterNetworkError =
      replayable && (IDEMPOTENT_METHODS.has(request.method) || idempotencyKey !== undefined);
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.maxRetries;
      let response: Response;
      try {
        response = await this.attempt(request, idempotencyKey);
      } catch (error) {
        if (request.signal?.aborted) throw error;
        if (last || !safeAfterNetworkError) {
          throw new NetworkError(`${request.method} ${request.path}: ${String(error)}`, {
            cause: error,
          });
        }
        await sleep(this.backoff(attempt), request.signal);
        continue;
      }
      if (response.ok) return response;
      if (!last && replayable && RETRIED_STATUSES.has(response.status)) {
        const asked = retryAfterSeconds(response.headers);
        await response.body?.cancel();
        const wait = asked === null ? this.backoff(attempt) : asked * 1000;
        await sleep(Math.min(wait, this.maxRetryDelayMs), request.signal);
        continue;
      }
      throw await errorFor(response);
    }
  }

  /** Exponential backoff with jitter: about 0.5 s, 1 s, 2 s, ... capped. */
  private backoff(attempt: number): number {
    const base = Math.min(500 * 2 ** attempt, this.maxRetryDelayMs);
    return base / 2 + Math.random() * (base / 2);
  }

  private async attempt(request: Request, idempotencyKey: string | undefined): Promise<Response> {
    const headers = new Headers({ Accept: "application/json, application/problem+json" });
    headers.set("Authorization", `Bearer ${await this.token()}`);
    if (idempotencyKey !== undefined) headers.set("Idempotency-Key", idempotencyKey);
    let body: BodyInit | undefined;
    if (request.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(request.json);
    } else if (request.body !== undefined) {
      if (request.contentType) headers.set("Content-Type", request.contentType);
      body = request.body as BodyInit;
    }
    // The timeout covers the wait for the answer's headers, not the reading of its body
    // (a long export streams for as long as it takes).
    const timeoutMs = request.timeoutMs ?? this.timeoutMs;
    const timer = new AbortController();
    const clock =
      timeoutMs > 0
        ? setTimeout(() => timer.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        : undefined;
    const signal = request.signal ? AbortSignal.any([request.signal, timer.signal]) : timer.signal;
    const init: RequestInit & { duplex?: "half" } = { method: request.method, headers, signal };
    if (body !== undefined) init.body = body;
    if (request.body instanceof ReadableStream) init.duplex = "half"; // a streamed upload
    try {
      return await this.fetchImpl(this.url(request.path, request.query), init);
    } finally {
      clearTimeout(clock);
    }
  }

  private async token(): Promise<string> {
    if (this.credentials.apiKey) return this.credentials.apiKey;
    const token = this.credentials.accessToken!;
    return typeof token === "function" ? token() : token;
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }
}

