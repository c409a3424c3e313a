import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { verifyWebhook, WebhookVerificationError } from "../src/index.js";
import { client, run } from "./live.js";

interface Received {
  body: string;
  headers: IncomingHttpHeaders;
}

test("a real delivery verifies; a tampered, foreign or stale one does not", async () => {
  const api = client();
  let deliver: (received: Received) => void;
  const arrived = new Promise<Received>((resolve) => (deliver = resolve));
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      res.writeHead(204).end();
      deliver({ body: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const { port } = receiver.address() as AddressInfo;
  try {
    const webhook = await api.webhooks.create({
      url: `http://127.0.0.1:${port}/hooks`,
      events: ["contact.created"],
    });
    assert.ok(webhook.secret?.startsWith("whsec_"));
    const email = `hooked-${run}@example.com`;
    const contact = await api.contacts.create({ email });

    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("no delivery within 30 s")), 30_000).unref(),
    );
    const { body, headers } = await Promise.race([arrived, timeout]);

    const event = await verifyWebhook<{ id: string; email: string }>(body, headers, webhook.secret!);
    assert.equal(event.type, "contact.created");
    assert.equal(event.data.id, contact.id);
    assert.equal(event.data.email, email);
    // The same with bytes and a Headers object (as a fetch-style handler has them).
    const asHeaders = new Headers(headers as Record<string, string>);
    const again = await verifyWebhook(new TextEncoder().encode(body), asHeaders, webhook.secret!);
    assert.equal(again.type, "contact.created");

    await assert.rejects(
      verifyWebhook(body.replace(email, `x${email}`), headers, webhook.secret!),
      WebhookVerificationError,
    );
    const foreign = `whsec_${Buffer.from("another secret of 24 bytes").toString("base64")}`;
    await assert.rejects(verifyWebhook(body, headers, foreign), WebhookVerificationError);
    const later = new Date(Date.now() + 3600_000);
    await assert.rejects(
      verifyWebhook(body, headers, webhook.secret!, { now: later }),
      /tolerance/,
    );
    const { "webhook-signature": _, ...unsigned } = headers;
    await assert.rejects(verifyWebhook(body, unsigned, webhook.secret!), /webhook-signature/);

    // The attempt is listed among the webhook's deliveries.
    let listed = [];
    for (let i = 0; i < 50 && listed.length === 0; i++) {
      listed = [];
      for await (const d of api.webhooks.deliveries.iterate(webhook.id)) listed.push(d);
      if (listed.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(listed[0]?.eventType, "contact.created");
    assert.equal(listed[0]?.statusCode, 204);
    const rotated = await api.webhooks.rotateSecret(webhook.id);
    assert.notEqual(rotated.secret, webhook.secret);
    await api.webhooks.delete(webhook.id);
  } finally {
    receiver.close();
  }
});
