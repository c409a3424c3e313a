// Types of the API's requests and answers, read from the generated document types by
// path and method (never by operation id or schema name, which a document may rename).
import type { paths } from "./openapi.js";

export type { components, paths } from "./openapi.js";

export type Path = keyof paths & string;
type Method = "get" | "post" | "put" | "patch" | "delete";

type Operation<P extends Path, M extends Method> = paths[P] extends { [K in M]: infer O } ? O : never;

type JsonContent<R> = R extends { content: { "application/json": infer B } } ? B : never;

/** The JSON body an operation takes. */
export type BodyOf<P extends Path, M extends Method> =
  Operation<P, M> extends { requestBody?: { content: { "application/json": infer B } } }
    ? B
    : never;

/** The JSON an operation answers with on success (200, 201 or 202). */
export type ResultOf<P extends Path, M extends Method> =
  Operation<P, M> extends { responses: infer R }
    ? R extends { 200: infer A }
      ? JsonContent<A>
      : R extends { 201: infer A }
        ? JsonContent<A>
        : R extends { 202: infer A }
          ? JsonContent<A>
          : void
    : never;

/** The query parameters an operation takes. */
export type QueryOf<P extends Path, M extends Method = "get"> =
  Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** A list's envelope: `{ data, meta }`. */
export type ListOf<P extends Path> = ResultOf<P, "get">;
/** One item of a list. */
export type ItemOf<P extends Path> = ListOf<P> extends { data: (infer I)[] } ? I : never;

/** The list query without the paging a walk through every page takes care of. */
export type IterateQuery<P extends Path> = Omit<QueryOf<P>, "page" | "cursor">;

/** A collection path whose `{id}` path exists too. */
export type ItemPath<P extends Path> = `${P}/{id}` & Path;

/** A contact as the API returns it (and likewise for the others below). */
export type Contact = ItemOf<"/v3/contacts">;
export type ContactGroup = ItemOf<"/v3/contactGroups">;
export type ContactTag = ItemOf<"/v3/contactTags">;
export type ContactField = ItemOf<"/v3/contactFields">;
export type Pipeline = ItemOf<"/v3/pipelines">;
export type DealStage = ItemOf<"/v3/dealStages">;
export type DealStatus = ItemOf<"/v3/dealStatuses">;
export type Deal = ItemOf<"/v3/deals">;
export type Brand = ItemOf<"/v3/brands">;
export type Segment = ItemOf<"/v3/segments">;
export type Form = ItemOf<"/v3/forms">;
export type EmailCampaign = ItemOf<"/v3/emailCampaigns">;
export type EmailAutomation = ItemOf<"/v3/emailAutomations">;
export type Webhook = ItemOf<"/v3/webhooks">;
export type WebhookDelivery = ItemOf<"/v3/webhooks/{id}/deliveries">;
export type ApiKey = ItemOf<"/v3/apiKeys">;
export type OAuthClient = ItemOf<"/v3/oauthClients">;
export type ContactImport = ItemOf<"/v3/contactImports">;
export type CapturedEmail = ItemOf<"/v3/sandbox/emails">;
export type PageMeta = ListOf<"/v3/contacts">["meta"];
