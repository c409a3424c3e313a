import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ActiveCommerce,
  ApiError,
  AuthenticationFailed,
  Conflict,
  type ContactImport,
  NotFound,
  ValidationFailed,
} from "../src/index.js";
import { baseUrl, client, recordingFetch, run } from "./live.js";

const api = client();

describe("collections", () => {
  test("contacts: create, get, update, replace, list, delete", async () => {
    const email = `crud-${run}@example.com`;
    const created = await api.contacts.create({ email, firstName: "Ann" });
    assert.equal(created.email, email);
    assert.equal(created.firstName, "Ann");
    assert.equal(typeof created.id, "string");

    const fetched = await api.contacts.get(created.id);
    assert.deepEqual(fetched, created);

    const updated = await api.contacts.update(created.id, { lastName: "Lee" });
    assert.equal(updated.firstName, "Ann");
    assert.equal(updated.lastName, "Lee");

    const replaced = await api.contacts.replace(created.id, { email, phone: "+1 555 0100" });
    assert.equal(replaced.firstName, null); // PUT: left out, cleared
    assert.equal(replaced.phone, "+1 555 0100");

    const page = await api.contacts.list({ email });
    assert.equal(page.meta.total, 1);
    assert.equal(page.data[0]?.id, created.id);

    await api.contacts.delete(created.id);
    await assert.rejects(api.contacts.get(created.id), NotFound);
    await assert.rejects(api.contacts.delete(created.id), NotFound);
  });

  test("iterate walks 45 contacts by pages of 20, by cursor", async () => {
    const marker = `walk${run}`;
    const made = new Set<string>();
    for (let i = 0; i < 45; i++) {
      made.add((await api.contacts.create({ email: `${marker}-${i}@example.com` })).id);
    }
    const { fetch, calls } = recordingFetch();
    const counted = client({ fetch });
    const seen: string[] = [];
    for await (const contact of counted.contacts.iterate({ q: marker, pageSize: 20 })) {
      seen.push(contact.id);
    }
    assert.equal(seen.length, 45);
    assert.deepEqual(new Set(seen), made);
    assert.equal(calls.length, 3);
    assert.ok(!calls[0]!.url.includes("cursor="));
    assert.ok(calls[1]!.url.includes("cursor=") && calls[2]!.url.includes("cursor="));
  });

  test("groups, tags and memberships", async () => {
    const contact = await api.contacts.create({ email: `member-${run}@example.com` });
    const tag = await api.contactTags.create({ name: `vip-${run}` });
    const group = await api.contactGroups.create({ name: `newsletter-${run}` });
    await api.contacts.tags.add(contact.id, tag.id);
    await api.contacts.tags.add(contact.id, tag.id); // idempotent
    await api.contacts.groups.add(contact.id, group.id);
    assert.deepEqual(
      (await api.contacts.tags.list(contact.id)).data.map((t) => t.id),
      [tag.id],
    );
    const groups = [];
    for await (const g of api.contacts.groups.iterate(contact.id)) groups.push(g.name);
    assert.deepEqual(groups, [group.name]);
    assert.equal((await api.contacts.list({ tagId: tag.id })).meta.total, 1);
    await api.contacts.tags.remove(contact.id, tag.id);
    assert.equal((await api.contacts.tags.list(contact.id)).meta.total, 0);
    const renamed = await api.contactTags.update(tag.id, { name: `gold-${run}` });
    assert.equal(renamed.name, `gold-${run}`);
    await api.contactTags.delete(tag.id);
    await api.contactGroups.delete(group.id);
  });

  test("segments: create, preview, their contacts, the contacts filter", async () => {
    const tag = await api.contactTags.create({ name: `seg-${run}` });
    const ids = [];
    for (const n of [0, 1, 2]) {
      const contact = await api.contacts.create({ email: `seg-${n}-${run}@example.com` });
      if (n > 0) await api.contacts.tags.add(contact.id, tag.id);
      ids.push(contact.id);
    }
    const conditions = { all: [{ tag: tag.id, has: true }] };
    const preview = await api.segments.preview({ conditions });
    assert.equal(preview.count, 2);
    assert.deepEqual(preview.sample.map((c) => c.id).sort(), ids.slice(1).sort());
    const made = await api.segments.create({ name: `tagged-${run}`, conditions });
    assert.deepEqual(made.conditions, conditions);
    const page = await api.segments.contacts.list(made.id, { pageSize: 1 });
    assert.equal(page.meta.total, 2);
    const walked = [];
    for await (const c of api.segments.contacts.iterate(made.id, { pageSize: 1 })) walked.push(c.id);
    assert.deepEqual(walked, ids.slice(1));
    assert.equal((await api.contacts.list({ segmentId: made.id })).meta.total, 2);
    await assert.rejects(api.contactTags.delete(tag.id), Conflict);
    await api.segments.delete(made.id);
    await api.contactTags.delete(tag.id);
  });

  test("pipelines, stages, statuses and deals", async () => {
    const pipeline = await api.pipelines.create({ name: `Sales ${run}` });
    assert.equal(pipeline.currency, "USD");
    const stage = await api.dealStages.create({ pipelineId: pipeline.id, name: "Lead", order: 0 });
    const status = await api.dealStatuses.create({
      pipelineId: pipeline.id,
      name: "Won",
      color: "#00AA00",
    });
    const deal = await api.deals.create({
      name: "Big one",
      pipelineId: pipeline.id,
      stageId: stage.id,
      status: status.id,
      value: 125000,
      closeDate: "2027-01-31",
    });
    assert.equal(deal.currency, "USD");
    assert.equal(deal.value, 125000);
    const deals = await api.deals.list({ pipelineId: pipeline.id });
    assert.deepEqual(deals.data.map((d) => d.id), [deal.id]);
    assert.equal((await api.dealStages.list({ pipelineId: pipeline.id })).meta.total, 1);
    // The pipeline still has a deal: 409.
    await assert.rejects(api.pipelines.delete(pipeline.id), Conflict);
    await api.deals.delete(deal.id);
    await api.pipelines.delete(pipeline.id);
  });

  test("campaigns, automations, brands and captured mail", async () => {
    const brand = await api.brands.create({ name: `Brand ${run}`, postalAddress: "1 Main St" });
    const campaign = await api.emailCampaigns.create({
      name: `Launch ${run}`,
      subject: "Hello {{ firstName }}",
      fromEmail: "news@example.com",
      htmlContent: "<p>Hi</p>",
      brandId: brand.id,
    });
    assert.equal(campaign.status, "draft");
    const to = `test-${run}@example.com`;
    const sent = await api.emailCampaigns.test(campaign.id, { emails: [to] });
    assert.deepEqual(sent.emails, [to]);
    // The test copy is sent by the worker: it is captured a moment later.
    let captured = await api.sandboxEmails.list({ to });
    for (let i = 0; i < 100 && captured.data.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      captured = await api.sandboxEmails.list({ to });
    }
    assert.equal(captured.data.length, 1);
    const mail = await api.sandboxEmails.get(captured.data[0]!.id);
    assert.equal(mail.campaignId, campaign.id);

    const tag = await api.contactTags.create({ name: `audience-${run}` });
    const counted = await api.emailCampaigns.audienceCount(campaign.id, {
      audience: { all: true, exclude: { tagIds: [tag.id] } },
    });
    assert.equal(typeof counted.count, "number");
    assert.equal((await api.emailCampaigns.audienceCount(campaign.id, { audience: { tagIds: [tag.id] } })).count, 0);
    const queued = await api.emailCampaigns.send(campaign.id, { audience: { tagIds: [tag.id] } });
    assert.notEqual(queued.status, "draft");
    const report = await api.emailCampaigns.report(campaign.id);
    assert.equal(report.campaignId, campaign.id);

    const automation = await api.emailAutomations.create({
      name: `Welcome ${run}`,
      subject: "Welcome",
      fromEmail: "hi@example.com",
      plaintextContent: "Welcome aboard",
      trigger: { type: "contact_created" },
    });
    assert.equal(automation.status, "active");
    const paused = await api.emailAutomations.update(automation.id, { status: "paused" });
    assert.equal(paused.status, "paused");
    const automationReport = await api.emailAutomations.report(automation.id);
    assert.equal(automationReport.automationId, automation.id);
  });

  test("API keys: create, list, use, revoke", async () => {
    const made = await api.apiKeys.create({});
    assert.ok(made.key?.startsWith("ac_test_"));
    const other = new ActiveCommerce({ baseUrl, apiKey: made.key! });
    await other.contacts.list({ pageSize: 1 });
    const ids = [];
    for await (const key of api.apiKeys.iterate()) ids.push(key.id);
    assert.ok(ids.includes(made.id));
    await api.apiKeys.delete(made.id);
    await assert.rejects(other.contacts.list(), AuthenticationFailed);
  });

  test("export as CSV", async () => {
    const email = `export-${run}@example.com`;
    await api.contacts.create({ email, firstName: "Exported" });
    const csv = await api.contacts.export({ email });
    const lines = csv.trim().split(/\r?\n/);
    assert.equal(lines.length, 2);
    assert.ok(lines[0]!.startsWith("email"));
    assert.ok(lines[1]!.includes(email) && lines[1]!.includes("Exported"));
  });
});

describe("typed errors carry the problem details", () => {
  test("404 NotFound", async () => {
    const error = await api.contacts.get("no-such-id").catch((e: unknown) => e);
    assert.ok(error instanceof NotFound && error instanceof ApiError);
    assert.equal(error.status, 404);
    assert.equal(error.problem.status, 404);
    assert.ok(error.title.length > 0);
  });

  test("422 ValidationFailed names the fields", async () => {
    const error = await api.contacts
      .create({ email: "not an email", extra: 1 } as never)
      .catch((e: unknown) => e);
    assert.ok(error instanceof ValidationFailed);
    assert.equal(error.status, 422);
    const fields = error.errors.map((e) => e.field);
    assert.ok(fields.includes("email"), JSON.stringify(error.errors));
  });

  test("409 Conflict on a taken email", async () => {
    const email = `taken-${run}@example.com`;
    await api.contacts.create({ email });
    const error = await api.contacts.create({ email: email.toUpperCase() }).catch((e) => e);
    assert.ok(error instanceof Conflict);
    assert.equal(error.problem.status, 409);
  });

  test("401 AuthenticationFailed", async () => {
    const stranger = new ActiveCommerce({ baseUrl, apiKey: "ac_test_wrong" });
    const error = await stranger.contacts.list().catch((e: unknown) => e);
    assert.ok(error instanceof AuthenticationFailed);
    assert.equal(error.status, 401);
  });
});

describe("contact imports", () => {
  test("a streamed CSV upload, waited for with progress", async () => {
    const rows = 300;
    const encoder = new TextEncoder();
    let sentRows = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentRows === 0) controller.enqueue(encoder.encode("email,firstName,tags\n"));
        if (sentRows >= rows) return controller.close();
        const chunk = [];
        for (let i = 0; i < 50 && sentRows < rows; i++, sentRows++) {
          chunk.push(`import-${run}-${sentRows}@example.com,Row ${sentRows},imported-${run}\n`);
        }
        controller.enqueue(encoder.encode(chunk.join("")));
      },
    });
    const queued = await api.contactImports.upload(stream, { format: "csv" });
    assert.ok(["queued", "running", "completed"].includes(queued.status));
    const progress: ContactImport[] = [];
    const done = await api.contactImports.wait(queued.id, {
      intervalMs: 50,
      timeoutMs: 60_000,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(done.status, "completed");
    assert.equal(done.created, rows);
    assert.equal(done.failed, 0);
    assert.ok(progress.length >= 1);
    assert.deepEqual(progress.at(-1), done);
    const processed = progress.map((p) => p.processed);
    assert.deepEqual(processed, [...processed].sort((a, b) => a - b)); // never goes back
    assert.equal((await api.contacts.list({ q: `import-${run}-` })).meta.total >= 1, true);

    // NDJSON from a string, uploaded and waited for in one call.
    const line = JSON.stringify({ email: `ndjson-${run}@example.com`, firstName: "Nd" });
    const finished = await api.contactImports.run(line + "\n", { format: "ndjson", intervalMs: 50 });
    assert.equal(finished.created, 1);
    const listed = [];
    for await (const item of api.contactImports.iterate()) listed.push(item.id);
    assert.ok(listed.includes(queued.id) && listed.includes(finished.id));
  });
});
