// What the tests share: the live server they run against and a fetch that records calls.
// The server is started by tests/sdk/test_typescript.py (pytest), which sets:
//   ACTIVECOMMERCE_URL               the server, e.g. http://127.0.0.1:8123
//   ACTIVECOMMERCE_API_KEY           a sandbox key of an account with a high rate limit
//   ACTIVECOMMERCE_LIMITED_API_KEY   a sandbox key of an account limited to 2 requests/s
import { ActiveCommerce, type ClientOptions } from "../src/index.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: these tests run against a live server; run them with ` +
        "`pytest tests/sdk/test_typescript.py` from the repository, which starts one",
    );
  }
  return value;
}

export const baseUrl = required("ACTIVECOMMERCE_URL");
export const apiKey = required("ACTIVECOMMERCE_API_KEY");
export const limitedApiKey = required("ACTIVECOMMERCE_LIMITED_API_KEY");

/** A marker unique to this run, for emails and names. */
export const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export interface Call {
  method: string;
  url: string;
  idempotencyKey: string | null;
  body: string | null;
  status: number | null;
  at: number;
}

/** The global fetch, recording every attempt (method, URL, Idempotency-Key, status). */
export function recordingFetch(): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const recorder: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    const call: Call = {
      method: init?.method ?? "GET",
      url: String(input),
      idempotencyKey: headers.get("idempotency-key"),
      body: typeof init?.body === "string" ? init.body : null,
      status: null,
      at: Date.now(),
    };
    calls.push(call);
    const response = await fetch(input, init);
    call.status = response.status;
    return response;
  };
  return { fetch: recorder, calls };
}

export function client(options: Partial<ClientOptions> = {}): ActiveCommerce {
  return new ActiveCommerce({ baseUrl, apiKey, ...options } as ClientOptions);
}
