// Standard Webhooks verification with Web Crypto (Node 20+, browsers, edge runtimes).

/** The body of a webhook delivery. */
export interface WebhookEvent<T = Record<string, unknown>> {
  /** e.g. `contact.created`. */
  type: string;
  /** RFC 3339. */
  timestamp: string;
  /** The object as the API returns it (for a deletion, at least its `id`). */
  data: T;
}

/** The delivery is not signed by the webhook's secret, or is too old or too new. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WebhookVerificationError";
  }
}

export type WebhookHeaders =
  | Headers
  | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** Largest difference between `webhook-timestamp` and now. Default 300 s. */
  toleranceSeconds?: number;
  /** The current time (for tests). */
  now?: Date;
}

function header(headers: WebhookHeaders, name: string): string {
  let value: string | string[] | null | undefined;
  if (typeof (headers as Headers).get === "function") {
    value = (headers as Headers).get(name);
  } else {
    const record = headers as Record<string, string | string[] | undefined>;
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  if (Array.isArray(value)) value = value.join(" ");
  if (!value) throw new WebhookVerificationError(`missing ${name} header`);
  return value;
}

function base64Bytes(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  } catch {
    return null;
  }
}

/**
 * Verifies a delivery signed per Standard Webhooks and returns its parsed event.
 *
 * `payload` is the raw body exactly as received (not re-serialized JSON); `headers` the
 * request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`); `secret` the
 * webhook's `whsec_...` secret. Throws WebhookVerificationError when the signature does
 * not match (compared in constant time by Web Crypto) or the timestamp is outside the
 * tolerance (a replay).
 */
export async function verifyWebhook<T = Record<string, unknown>>(
  payload: string | Uint8Array,
  headers: WebhookHeaders,
  secret: string,
  options: VerifyOptions = {},
): Promise<WebhookEvent<T>> {
  const id = header(headers, "webhook-id");
  const timestamp = header(headers, "webhook-timestamp");
  const signatures = header(headers, "webhook-signature");

  const tolerance = options.toleranceSeconds ?? 300;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (!/^\d+$/.test(timestamp)) throw new WebhookVerificationError("bad webhook-timestamp");
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    throw new WebhookVerificationError("webhook-timestamp outside the tolerance");
  }

  const keyBytes = base64Bytes(secret.startsWith("whsec_") ? secret.slice(6) : secret);
  if (!keyBytes || keyBytes.length === 0) throw new WebhookVerificationError("bad secret");
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  const encoder = new TextEncoder();
  const body = typeof payload === "string" ? encoder.encode(payload) : payload;
  const prefix = encoder.encode(`${id}.${timestamp}.`);
  const signed = new Uint8Array(prefix.length + body.length);
  signed.set(prefix);
  signed.set(body, prefix.length);

  for (const entry of signatures.split(" ")) {
    const [version, encoded] = entry.split(",", 2);
    if (version !== "v1" || !encoded) continue;
    const signature = base64Bytes(encoded);
    // crypto.subtle.verify compares the HMAC in constant time.
    if (signature && (await crypto.subtle.verify("HMAC", key, signature, signed))) {
      const text = typeof payload === "string" ? payload : new TextDecoder().decode(payload);
      return JSON.parse(text) as WebhookEvent<T>;
    }
  }
  throw new WebhookVerificationError("no matching signature");
}
