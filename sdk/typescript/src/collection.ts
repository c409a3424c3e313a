import type { CallOptions, Http, Query } from "./http.js";
import type {
  BodyOf,
  ItemOf,
  ItemPath,
  IterateQuery,
  ListOf,
  Path,
  QueryOf,
  ResultOf,
} from "./types.js";

/** The segment of a path for an id (ids are opaque text). */
export const segment = (id: string): string => encodeURIComponent(id);

interface Envelope<T> {
  data: T[];
  meta: { page?: number | null; totalPages?: number; nextCursor?: string | null };
}

/**
 * Every item of a list, page after page: by `meta.nextCursor` where the list gives one
 * (the collections), else by page number (memberships, deliveries, captured mail).
 */
export async function* paginate<T>(
  http: Http,
  path: string,
  query: Query = {},
  options: CallOptions = {},
): AsyncGenerator<T, void, undefined> {
  let params: Query = { ...query };
  let page = Number(query.page ?? 1);
  for (;;) {
    const answer = await http.json<Envelope<T>>({ method: "GET", path, query: params, ...options });
    yield* answer.data;
    if (answer.data.length === 0) return;
    const { nextCursor, totalPages } = answer.meta;
    if (nextCursor !== undefined) {
      if (nextCursor === null) return;
      params = { ...query, cursor: nextCursor };
    } else {
      page += 1;
      if (totalPages !== undefined && page > totalPages) return;
      params = { ...query, page };
    }
  }
}

/** What can be read of a collection: get one, list a page, iterate over all. */
export class Listing<P extends Path> {
  constructor(
    protected readonly http: Http,
    readonly path: P,
  ) {}

  /** GET one by id (NotFound when there is none in this account and environment). */
  get(id: string, options?: CallOptions): Promise<ResultOf<ItemPath<P>, "get">> {
    return this.http.json({ method: "GET", path: this.itemPath(id), ...options });
  }

  /** One page: `{ data, meta }`. */
  list(query?: QueryOf<P>, options?: CallOptions): Promise<ListOf<P>> {
    return this.http.json({ method: "GET", path: this.path, query: query as Query, ...options });
  }

  /** Every item, page after page (by cursor): `for await (const x of c.iterate())`. */
  iterate(query?: IterateQuery<P>, options?: CallOptions): AsyncGenerator<ItemOf<P>, void, undefined> {
    return paginate<ItemOf<P>>(this.http, this.path, query as Query, options);
  }

  /** The path of an action on one object: `/v3/things/{id}/{name}`. */
  protected action(id: string, name: string): string {
    return `${this.itemPath(id)}/${name}`;
  }

  protected itemPath(id: string): string {
    return `${this.path}/${segment(id)}`;
  }
}

/**
 * One collection of the API (`/v3/contacts`, `/v3/deals`, ...): create, get, list,
 * iterate, replace (PUT), update (PATCH) and delete, typed from the OpenAPI document.
 */
export class Collection<P extends Path> extends Listing<P> {
  /** POST: 201 with the new object (an Idempotency-Key makes it safe to retry). */
  create(body: BodyOf<P, "post">, options?: CallOptions): Promise<ResultOf<P, "post">> {
    return this.http.json({ method: "POST", path: this.path, json: body, ...options });
  }

  /** PUT: every writable field; those left out go back to their defaults or null. */
  replace(
    id: string,
    body: BodyOf<ItemPath<P>, "put">,
    options?: CallOptions,
  ): Promise<ResultOf<ItemPath<P>, "put">> {
    return this.http.json({ method: "PUT", path: this.itemPath(id), json: body, ...options });
  }

  /** PATCH: only the fields sent (null clears an optional one). */
  update(
    id: string,
    body: BodyOf<ItemPath<P>, "patch">,
    options?: CallOptions,
  ): Promise<ResultOf<ItemPath<P>, "patch">> {
    return this.http.json({ method: "PATCH", path: this.itemPath(id), json: body, ...options });
  }

  /** DELETE (a second one is a NotFound). */
  async delete(id: string, options?: CallOptions): Promise<void> {
    await this.http.send({ method: "DELETE", path: this.itemPath(id), ...options });
  }
}

/** A collection that can only be created, listed and deleted (API keys, OAuth clients). */
export type CreateListDelete<P extends Path> = Pick<
  Collection<P>,
  "path" | "create" | "list" | "iterate" | "delete"
>;
