import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { ActiveCommerce, type ClientOptions, NetworkError, RateLimited } from "../src/index.js";
import { apiKey, baseUrl, client, limitedApiKey, recordingFetch, run } from "./live.js";

// The limited account may make 2 requests per second (a moving one-second window).
const limited = (options: Partial<ClientOptions> = {}) =>
  client({ ...options, apiKey: limitedApiKey } as Partial<ClientOptions>);

const settle = () => new Promise((resolve) => setTimeout(resolve, 1100));

test("429 is a RateLimited with Retry-After when retries are off", async () => {
  await settle();
  const noRetry = limited({ maxRetries: 0 });
  const answers = await Promise.allSettled(
    Array.from({ length: 5 }, () => noRetry.contacts.list({ pageSize: 1 })),
  );
  const refused = answers.filter((a) => a.status === "rejected");
  assert.ok(refused.length >= 1, "over 2/s, some requests are refused");
  const error = (refused[0] as PromiseRejectedResult).reason;
  assert.ok(error instanceof RateLimited);
  assert.equal(error.status, 429);
  assert.ok(error.retryAfter !== null && error.retryAfter >= 1);
});

test("429s are retried after Retry-After, each POST with one Idempotency-Key", async () => {
  await settle();
  const { fetch, calls } = recordingFetch();
  const patient = limited({ fetch, maxRetries: 10 });
  const started = Date.now();
  const emails = Array.from({ length: 5 }, (_, i) => `burst-${run}-${i}@example.com`);
  const made = await Promise.all(emails.map((email) => patient.contacts.create({ email })));
  assert.deepEqual(made.map((c) => c.email), emails);
  assert.ok(Date.now() - started >= 900, "the retries waited for Retry-After");

  const posts = calls.filter((c) => c.method === "POST");
  assert.ok(posts.some((c) => c.status === 429), "the burst met the limit");
  assert.ok(posts.length > emails.length);
  // Every attempt of one create carries the same key; different creates, different keys.
  const keyOf = new Map<string, string>();
  for (const call of posts) {
    assert.ok(call.idempotencyKey);
    const email = JSON.parse(call.body!).email as string;
    assert.equal(keyOf.get(email) ?? call.idempotencyKey, call.idempotencyKey);
    keyOf.set(email, call.idempotencyKey);
  }
  assert.equal(new Set(keyOf.values()).size, emails.length);
  // A retry followed the 429 by at least the second the server asked for.
  const refused = posts.find((c) => c.status === 429)!;
  const retry = posts.find((c) => c.idempotencyKey === refused.idempotencyKey && c.at > refused.at)!;
  assert.ok(retry.at - refused.at >= 900, `${retry.at - refused.at} ms`);
});

/**
 * A proxy in front of the server that passes the first POST on but drops the client's
 * connection instead of answering: the client sees a network error although the
 * server made the object.
 */
async function lossyProxy(): Promise<{ url: string; close: () => void; dropped: () => number }> {
  const target = new URL(baseUrl);
  let dropped = 0;
  const server = createServer((req, res) => {
    const forward = httpRequest(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        if (req.method === "POST" && dropped === 0) {
          dropped++;
          answer.resume();
          answer.on("end", () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => server.close(),
    dropped: () => dropped,
  };
}

test("a POST whose answer is lost is retried with its key: made once", async () => {
  const proxy = await lossyProxy();
  try {
    const { fetch, calls } = recordingFetch();
    const viaProxy = new ActiveCommerce({ baseUrl: proxy.url, apiKey, fetch });
    const email = `lost-${run}@example.com`;
    const contact = await viaProxy.contacts.create({ email });
    assert.equal(proxy.dropped(), 1);
    const posts = calls.filter((c) => c.method === "POST");
    assert.equal(posts.length, 2);
    assert.equal(posts[0]!.idempotencyKey, posts[1]!.idempotencyKey);
    assert.equal(posts[0]!.status, null); // the network error
    assert.equal(posts[1]!.status, 201); // the first response, replayed
    const found = await client().contacts.list({ email });
    assert.equal(found.meta.total, 1);
    assert.equal(found.data[0]!.id, contact.id);
  } finally {
    proxy.close();
  }
});

test("network errors: retried with backoff, then a NetworkError", async () => {
  // Nothing listens on a port just closed.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  const { fetch, calls } = recordingFetch();
  const nowhere = new ActiveCommerce({ baseUrl: `http://127.0.0.1:${port}`, apiKey, fetch, maxRetries: 2 });
  await assert.rejects(nowhere.contacts.list(), NetworkError);
  assert.equal(calls.length, 3); // the first attempt and two retries
  // A PATCH is not idempotent: it is not sent again after a network error.
  calls.length = 0;
  await assert.rejects(nowhere.contacts.update("x", { firstName: "A" }), NetworkError);
  assert.equal(calls.length, 1);
});

test("an answer that does not come in time is a network error, retried", async () => {
  const silent = createServer(() => {}); // reads requests, never answers
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const { port } = silent.address() as AddressInfo;
  try {
    const { fetch, calls } = recordingFetch();
    const slow = new ActiveCommerce({
      baseUrl: `http://127.0.0.1:${port}`,
      apiKey,
      fetch,
      timeoutMs: 200,
      maxRetries: 1,
    });
    const started = Date.now();
    const error = await slow.contacts.get("x").catch((e: unknown) => e);
    assert.ok(error instanceof NetworkError, String(error));
    assert.equal(calls.length, 2);
    assert.ok(Date.now() - started >= 400);
  } finally {
    silent.closeAllConnections();
    silent.close();
  }
});
