import { Collection, type CreateListDelete, Listing, paginate, segment } from "./collection.js";
import { type CallOptions, type ClientOptions, Http, type Query, sleep } from "./http.js";
import type {
  BodyOf,
  ContactImport,
  IterateQuery,
  ItemOf,
  ListOf,
  Path,
  QueryOf,
  ResultOf,
} from "./types.js";

/** A list under one parent object (`/v3/contacts/{id}/tags`, a webhook's deliveries). */
class SubList<P extends Path> {
  constructor(
    protected readonly http: Http,
    private readonly template: P,
  ) {}

  protected pathFor(parentId: string): string {
    return this.template.replace("{id}", segment(parentId));
  }

  /** One page: `{ data, meta }`. */
  list(parentId: string, query?: QueryOf<P>, options?: CallOptions): Promise<ListOf<P>> {
    const path = this.pathFor(parentId);
    return this.http.json({ method: "GET", path, query: query as Query, ...options });
  }

  /** Every item, page after page. */
  iterate(
    parentId: string,
    query?: IterateQuery<P>,
    options?: CallOptions,
  ): AsyncGenerator<ItemOf<P>, void, undefined> {
    return paginate<ItemOf<P>>(this.http, this.pathFor(parentId), query as Query, options);
  }
}

/** A contact's tags or groups: list them, add one, remove one (both idempotent). */
class Membership<P extends Path> extends SubList<P> {
  /** Adds the contact to the tag or group (204 whether or not it was already there). */
  async add(contactId: string, memberId: string, options?: CallOptions): Promise<void> {
    const path = `${this.pathFor(contactId)}/${segment(memberId)}`;
    await this.http.send({ method: "PUT", path, ...options });
  }

  /** Removes the contact from the tag or group (204 whether or not it was there). */
  async remove(contactId: string, memberId: string, options?: CallOptions): Promise<void> {
    const path = `${this.pathFor(contactId)}/${segment(memberId)}`;
    await this.http.send({ method: "DELETE", path, ...options });
  }
}

class Contacts extends Collection<"/v3/contacts"> {
  /** The contact's tags: `list`, `iterate`, `add(contactId, tagId)`, `remove(...)`. */
  readonly tags = new Membership(this.http, "/v3/contacts/{id}/tags");
  /** The contact's groups: `list`, `iterate`, `add(contactId, groupId)`, `remove(...)`. */
  readonly groups = new Membership(this.http, "/v3/contacts/{id}/groups");
  /** The contact's consent records, newest first: `list(contactId)`, `iterate(contactId)`. */
  readonly consents = new SubList(this.http, "/v3/contacts/{id}/consents");

  /** Everything held about the contact, as one JSON document. */
  dataExport(
    id: string,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/contacts/{id}/dataExport", "get">> {
    return this.http.json({ method: "GET", path: this.action(id, "dataExport"), ...options });
  }

  /** Erases the contact and every personal trace of it (202); a keyed hash stays suppressed. */
  erase(id: string, options?: CallOptions): Promise<ResultOf<"/v3/contacts/{id}/erase", "post">> {
    return this.http.json({ method: "POST", path: this.action(id, "erase"), ...options });
  }

  /** The contacts as CSV (the import's columns), with the list's filters. */
  async export(query?: QueryOf<"/v3/contacts/export">, options?: CallOptions): Promise<string> {
    return (await this.exportStream(query, options)).text();
  }

  /** The export as it arrives (a large export need not be held in memory). */
  exportStream(query?: QueryOf<"/v3/contacts/export">, options?: CallOptions): Promise<Response> {
    const path = "/v3/contacts/export";
    return this.http.send({ method: "GET", path, query: query as Query, ...options });
  }
}

class Segments extends Collection<"/v3/segments"> {
  /** The contacts a segment matches now: `list(segmentId, query)`, `iterate(segmentId)`. */
  readonly contacts = new SubList(this.http, "/v3/segments/{id}/contacts");

  /** How many contacts `conditions` match (every status) and up to ten of them; saves nothing. */
  preview(
    body: BodyOf<"/v3/segments/preview", "post">,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/segments/preview", "post">> {
    return this.http.json({ method: "POST", path: `${this.path}/preview`, json: body, ...options });
  }
}

class Forms extends Collection<"/v3/forms"> {
  /** A form's submissions, the newest first: `list(formId, query)`, `iterate(formId)`. */
  readonly submissions = new SubList(this.http, "/v3/forms/{id}/submissions");

  /** The hosted page's URL and the HTML snippet to paste into a site. */
  embed(id: string, options?: CallOptions): Promise<ResultOf<"/v3/forms/{id}/embed", "get">> {
    return this.http.json({ method: "GET", path: this.action(id, "embed"), ...options });
  }

  /** Submissions, confirmations and their ratio. */
  stats(id: string, options?: CallOptions): Promise<ResultOf<"/v3/forms/{id}/stats", "get">> {
    return this.http.json({ method: "GET", path: this.action(id, "stats"), ...options });
  }
}

class EmailCampaigns extends Collection<"/v3/emailCampaigns"> {
  /** Sends the campaign to an audience, now or at `scheduledAt`. */
  send(
    id: string,
    body: BodyOf<"/v3/emailCampaigns/{id}/send", "post">,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/emailCampaigns/{id}/send", "post">> {
    return this.http.json({ method: "POST", path: this.action(id, "send"), json: body, ...options });
  }

  /** How many active contacts an audience reaches now: `{ count }`. */
  audienceCount(
    id: string,
    body: BodyOf<"/v3/emailCampaigns/{id}/audienceCount", "post">,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/emailCampaigns/{id}/audienceCount", "post">> {
    return this.http.json({ method: "POST", path: this.action(id, "audienceCount"), json: body, ...options });
  }

  /** Cancels a scheduled or sending campaign. */
  cancel(id: string, options?: CallOptions): Promise<ResultOf<"/v3/emailCampaigns/{id}/cancel", "post">> {
    return this.http.json({ method: "POST", path: this.action(id, "cancel"), ...options });
  }

  /** Resumes a paused campaign (the relay refused the sender): what was left queued goes out, each once. */
  resume(id: string, options?: CallOptions): Promise<ResultOf<"/v3/emailCampaigns/{id}/resume", "post">> {
    return this.http.json({ method: "POST", path: this.action(id, "resume"), ...options });
  }

  /** Sends a test to a few addresses. */
  test(
    id: string,
    body: BodyOf<"/v3/emailCampaigns/{id}/test", "post">,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/emailCampaigns/{id}/test", "post">> {
    return this.http.json({ method: "POST", path: this.action(id, "test"), json: body, ...options });
  }

  /** Sent, failed, opens, clicks, ... */
  report(id: string, options?: CallOptions): Promise<ResultOf<"/v3/emailCampaigns/{id}/report", "get">> {
    return this.http.json({ method: "GET", path: this.action(id, "report"), ...options });
  }
}

class EmailAutomations extends Collection<"/v3/emailAutomations"> {
  /** Enrolled, sent, failed, opens, clicks. */
  report(
    id: string,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/emailAutomations/{id}/report", "get">> {
    return this.http.json({ method: "GET", path: `${this.itemPath(id)}/report`, ...options });
  }
}

class Webhooks extends Collection<"/v3/webhooks"> {
  /** Every attempt to deliver an event to a webhook: `list(webhookId)`, `iterate(webhookId)`. */
  readonly deliveries = new SubList(this.http, "/v3/webhooks/{id}/deliveries");

  /** Sends a delivery's event again. */
  retryDelivery(
    webhookId: string,
    deliveryId: string,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/webhooks/{id}/deliveries/{deliveryId}/retry", "post">> {
    const path = `${this.itemPath(webhookId)}/deliveries/${segment(deliveryId)}/retry`;
    return this.http.json({ method: "POST", path, ...options });
  }

  /** A new signing secret (shown only in this answer). */
  rotateSecret(
    id: string,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/webhooks/{id}/rotateSecret", "post">> {
    return this.http.json({ method: "POST", path: `${this.itemPath(id)}/rotateSecret`, ...options });
  }
}

/** Sending domains: `create({ domain })` answers with the DNS records to publish. */
class SendingDomains extends Collection<"/v3/sendingDomains"> {
  /** Looks the records up in DNS: each found, missing or wrong; verified once DKIM is found. */
  verify(
    id: string,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/sendingDomains/{id}/verify", "post">> {
    return this.http.json({ method: "POST", path: `${this.itemPath(id)}/verify`, ...options });
  }
}

export type ImportData = string | Blob | Uint8Array | ReadableStream<Uint8Array>;

export interface UploadOptions extends CallOptions {
  /** `csv` (a header row; default) or `ndjson` (one contact object per line). */
  format?: "csv" | "ndjson";
  /** false: rows whose email exists are skipped rather than applied. Default true. */
  update?: boolean;
}

export interface WaitOptions {
  /** Called with the import after every poll while it runs, and once finished. */
  onProgress?: (progress: ContactImport) => void;
  /** Time between polls. Default 500 ms. */
  intervalMs?: number;
  /** Gives up (rejects) after this long. Default: never. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const FINISHED = new Set(["completed", "failed"]);

class ContactImports extends Listing<"/v3/contactImports"> {
  /**
   * Uploads contacts (CSV or NDJSON) and returns the queued import (202). A string, Blob
   * or bytes may be retried on 429/503; a stream is sent once, as it is read. (In
   * browsers, pass a Blob or File: streamed uploads need HTTP/2 there.) No timeout
   * unless `timeoutMs` is given: the server answers once it has read the whole body.
   */
  upload(data: ImportData, options: UploadOptions = {}): Promise<ContactImport> {
    const { format = "csv", update, ...call } = options;
    return this.http.json({
      method: "POST",
      path: this.path,
      query: update === undefined ? {} : { update },
      body: data,
      contentType: format === "csv" ? "text/csv" : "application/x-ndjson",
      idempotent: false, // the server keeps no idempotency record of a streamed body
      timeoutMs: 0, // the answer comes once the whole body is read: no limit by default
      ...call,
      idempotencyKey: undefined,
    });
  }

  /** Polls an import until it is `completed` or `failed`, reporting its progress. */
  async wait(id: string, options: WaitOptions = {}): Promise<ContactImport> {
    const { onProgress, intervalMs = 500, timeoutMs, signal } = options;
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const current = await this.get(id, signal ? { signal } : {});
      onProgress?.(current);
      if (FINISHED.has(current.status)) return current;
      if (Date.now() + intervalMs > deadline) {
        throw new Error(`import ${id} still ${current.status} after ${timeoutMs} ms`);
      }
      await sleep(intervalMs, signal);
    }
  }

  /** Uploads and waits: the finished import. */
  async run(data: ImportData, options: UploadOptions & WaitOptions = {}): Promise<ContactImport> {
    const { onProgress, intervalMs, timeoutMs, ...upload } = options;
    const queued = await this.upload(data, upload);
    return this.wait(queued.id, { onProgress, intervalMs, timeoutMs, signal: options.signal });
  }
}

/**
 * The ActiveCommerce API client:
 *
 * ```ts
 * const client = new ActiveCommerce({ baseUrl: "http://127.0.0.1:8000", apiKey: "ac_test_..." });
 * const contact = await client.contacts.create({ email: "ann@example.com" });
 * for await (const c of client.contacts.iterate({ status: "active" })) console.log(c.email);
 * ```
 *
 * Each namespace is named after its collection's path, in camelCase: `/v3/contactGroups`
 * is `contactGroups`, `/v3/sandbox/emails` is `sandboxEmails` (the Python SDK has the
 * same names in snake_case: `contact_groups`, `sandbox_emails`).
 */
export class ActiveCommerce {
  readonly http: Http;
  readonly contacts: Contacts;
  readonly contactGroups: Collection<"/v3/contactGroups">;
  readonly contactTags: Collection<"/v3/contactTags">;
  /** Custom contact fields: a contact's `fields` holds their values by key. */
  readonly contactFields: Collection<"/v3/contactFields">;
  readonly pipelines: Collection<"/v3/pipelines">;
  readonly dealStages: Collection<"/v3/dealStages">;
  readonly dealStatuses: Collection<"/v3/dealStatuses">;
  readonly deals: Collection<"/v3/deals">;
  readonly brands: Collection<"/v3/brands">;
  readonly segments: Segments;
  /**
   * The suppression list: `create({ email })` adds a manual entry (an address already
   * listed: its entry back, 200), `delete(id)` removes a manual one (others: 409).
   */
  readonly suppressions: Collection<"/v3/suppressions">;
  /** The domains mail is sent from (a verified one's mail is DKIM-signed). */
  readonly sendingDomains: SendingDomains;
  /** Signup forms (hosted pages, double opt-in). */
  readonly forms: Forms;
  readonly emailCampaigns: EmailCampaigns;
  readonly emailAutomations: EmailAutomations;
  readonly webhooks: Webhooks;
  readonly apiKeys: CreateListDelete<"/v3/apiKeys">;
  readonly oauthClients: CreateListDelete<"/v3/oauthClients">;
  readonly contactImports: ContactImports;
  /** Mail captured in the sandbox (a live key gets PermissionDenied). */
  readonly sandboxEmails: Listing<"/v3/sandbox/emails">;

  constructor(options: ClientOptions) {
    const http = (this.http = new Http(options));
    this.contacts = new Contacts(http, "/v3/contacts");
    this.contactGroups = new Collection(http, "/v3/contactGroups");
    this.contactTags = new Collection(http, "/v3/contactTags");
    this.contactFields = new Collection(http, "/v3/contactFields");
    this.pipelines = new Collection(http, "/v3/pipelines");
    this.dealStages = new Collection(http, "/v3/dealStages");
    this.dealStatuses = new Collection(http, "/v3/dealStatuses");
    this.deals = new Collection(http, "/v3/deals");
    this.brands = new Collection(http, "/v3/brands");
    this.segments = new Segments(http, "/v3/segments");
    this.suppressions = new Collection(http, "/v3/suppressions");
    this.sendingDomains = new SendingDomains(http, "/v3/sendingDomains");
    this.forms = new Forms(http, "/v3/forms");
    this.emailCampaigns = new EmailCampaigns(http, "/v3/emailCampaigns");
    this.emailAutomations = new EmailAutomations(http, "/v3/emailAutomations");
    this.webhooks = new Webhooks(http, "/v3/webhooks");
    this.apiKeys = new Collection(http, "/v3/apiKeys");
    this.oauthClients = new Collection(http, "/v3/oauthClients");
    this.contactImports = new ContactImports(http, "/v3/contactImports");
    this.sandboxEmails = new Listing(http, "/v3/sandbox/emails");
  }

  /** The account: its name, plan and default postal address (`postalAddress`). */
  account(options?: CallOptions): Promise<ResultOf<"/v3/account", "get">> {
    return this.http.json({ method: "GET", path: "/v3/account", ...options });
  }

  /**
   * Changes the account's settings, only the fields sent: `{ postalAddress }` is the
   * footer's postal address of marketing email whose brand has none (null clears it).
   */
  updateAccount(
    body: BodyOf<"/v3/account", "patch">,
    options?: CallOptions,
  ): Promise<ResultOf<"/v3/account", "patch">> {
    return this.http.json({ method: "PATCH", path: "/v3/account", json: body, ...options });
  }
}
