"""The synchronous client: drives the flows of `_core` with `httpx.Client`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar, Unpack, cast

import httpx

from activecommerce_sdk import _core
from activecommerce_sdk import types as t
from activecommerce_sdk._core import Flow, Locked, Send, Sleep

T = TypeVar("T")


class Runner:
    """Runs flows: sends their requests, sleeps their waits, holds their lock."""

    def __init__(self, http: httpx.Client, core: _core.Core) -> None:
        self.http = http
        self.core = core
        self._lock = threading.Lock()

    def run(self, flow: Flow[T]) -> T:
        reply: Any = None
        error: httpx.TransportError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            reply, error = None, None
            try:
                reply = self._do(step)
            except httpx.TransportError as failed:
                error = failed

    def _do(self, step: _core.Step) -> Any:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Locked):
            with self._lock:
                return self.run(step.flow)
        return self._send(step)

    def _send(self, step: Send) -> httpx.Response:
        request = self.http.build_request(
            step.method,
            step.path,
            params=step.params,
            json=step.json,
            data=step.form,
            content=step.content() if step.content is not None else None,
            headers=step.headers,
        )
        response = self.http.send(request, stream=True)
        if not step.stream or response.status_code >= 400:
            response.read()
        return response

    def json(self, method: str, path: str, **options: Any) -> Any:
        return self.run(self.core.json(method, path, **options))

    def walk(self, path: str, filters: Mapping[str, Any]) -> Iterator[Any]:
        params: dict[str, Any] | None = dict(filters)
        while params is not None:
            page = self.json("GET", path, params=_core.query(params))
            yield from page["data"]
            params = _core.next_page(params, page["meta"])

    def stream(self, path: str, filters: Mapping[str, Any]) -> Iterator[bytes]:
        response = self.run(self.core.call("GET", path, params=_core.query(filters), stream=True))
        try:
            yield from response.iter_bytes()
        finally:
            response.close()


class Listing(Generic[T]):
    """A list: `list(**filters)` walks every page (by cursor), `page(**filters)` is one."""

    def __init__(self, runner: Runner, path: str) -> None:
        self._runner = runner
        self._path = path

    def _one(self, method: str, path: str = "", **options: Any) -> T:
        return cast(T, self._runner.json(method, self._path + path, **options))

    def list(self, **filters: Any) -> Iterator[T]:
        return self._runner.walk(self._path, filters)

    def page(self, **filters: Any) -> t.Page[T]:
        return cast(t.Page[T], self._runner.json("GET", self._path, params=_core.query(filters)))


class Registry(Listing[T]):
    """Listed, created and deleted (API keys and OAuth clients are never read alone)."""

    def create(self, body: Mapping[str, Any] | None = None, /, **fields: Any) -> T:
        return self._one("POST", json={**(body or {}), **fields})

    def delete(self, id: str) -> None:
        self._runner.json("DELETE", f"{self._path}/{id}")


class Collection(Listing[T]):
    def get(self, id: str) -> T:
        return self._one("GET", f"/{id}")


class Crud(Collection[T], Registry[T]):
    """The six operations of a collection: get, list (and page), create, replace (PUT),
    update (PATCH: only the fields sent), delete."""

    def replace(self, id: str, body: Mapping[str, Any] | None = None, /, **fields: Any) -> T:
        return self._one("PUT", f"/{id}", json={**(body or {}), **fields})

    def update(self, id: str, body: Mapping[str, Any] | None = None, /, **fields: Any) -> T:
        return self._one("PATCH", f"/{id}", json={**(body or {}), **fields})


class Contacts(Crud[t.Contact]):
    """Contacts, their tags and groups, and the CSV export."""

    def tags(self, id: str, **params: Any) -> Iterator[t.ContactTag]:
        return self._runner.walk(f"{self._path}/{id}/tags", params)

    def add_tag(self, id: str, tag_id: str) -> None:
        self._runner.json("PUT", f"{self._path}/{id}/tags/{tag_id}")

    def remove_tag(self, id: str, tag_id: str) -> None:
        self._runner.json("DELETE", f"{self._path}/{id}/tags/{tag_id}")

    def groups(self, id: str, **params: Any) -> Iterator[t.ContactGroup]:
        return self._runner.walk(f"{self._path}/{id}/groups", params)

    def add_to_group(self, id: str, group_id: str) -> None:
        self._runner.json("PUT", f"{self._path}/{id}/groups/{group_id}")

    def remove_from_group(self, id: str, group_id: str) -> None:
        self._runner.json("DELETE", f"{self._path}/{id}/groups/{group_id}")

    def consents(self, id: str, **params: Any) -> Iterator[t.Consent]:
        """The contact's consent records (grants and withdrawals), newest first."""
        return self._runner.walk(f"{self._path}/{id}/consents", params)

    def data_export(self, id: str) -> t.DataExport:
        """Everything held about the contact, as one document."""
        return cast(t.DataExport, self._runner.json("GET", f"{self._path}/{id}/dataExport"))

    def erase(self, id: str) -> t.Erasure:
        """Erase the contact and every personal trace of it (202): only a keyed hash of
        its address stays, on the suppression list."""
        return cast(t.Erasure, self._runner.json("POST", f"{self._path}/{id}/erase"))

    def export(self, **filters: Any) -> Iterator[bytes]:
        """The (filtered) contacts as CSV, streamed in chunks as the server writes them."""
        return self._runner.stream(f"{self._path}/export", filters)


class Suppressions(Collection[t.Suppression], Registry[t.Suppression]):
    """The suppression list: addresses never mailed again. `create(email=...)` adds a
    manual entry (an address already listed: its entry back); `delete` removes a manual
    one (others are a 409)."""


class SendingDomains(Collection[t.SendingDomain], Registry[t.SendingDomain]):
    """Sending domains: `create(domain=...)` makes its DKIM key and answers with the DNS
    records to publish; `verify` looks them up and says which are found."""

    def verify(self, id: str) -> t.SendingDomain:
        return self._one("POST", f"/{id}/verify")


class Segments(Crud[t.Segment]):
    """Segments: named condition trees, the contacts they match, and a preview."""

    def preview(self, conditions: Mapping[str, Any]) -> t.SegmentPreview:
        """How many contacts `conditions` match (every status) and up to ten of them,
        without saving anything."""
        path = f"{self._path}/preview"
        body = {"conditions": conditions}
        return cast(t.SegmentPreview, self._runner.json("POST", path, json=body))

    def contacts(self, id: str, **params: Any) -> Iterator[t.Contact]:
        """Every contact the segment matches now, page after page (`sortBy`,
        `sortOrder` as the contacts list takes them)."""
        return self._runner.walk(f"{self._path}/{id}/contacts", params)

    def contacts_page(self, id: str, **params: Any) -> t.Page[t.Contact]:
        """One page of them (`page`, `pageSize`, `cursor`...), with its `meta`."""
        path = f"{self._path}/{id}/contacts"
        return cast(t.Page[t.Contact], self._runner.json("GET", path, params=_core.query(params)))


class Forms(Crud[t.Form]):
    """Signup forms: the hosted page's snippet, the submissions and the figures."""

    def embed(self, id: str) -> dict[str, str]:
        """`url` (the hosted page) and `html` (a snippet to paste into a site)."""
        return cast(dict[str, str], self._runner.json("GET", f"{self._path}/{id}/embed"))

    def stats(self, id: str) -> dict[str, Any]:
        """Submissions, confirmed, and their ratio (`conversion`)."""
        return cast(dict[str, Any], self._runner.json("GET", f"{self._path}/{id}/stats"))

    def submissions(self, id: str, **params: Any) -> Iterator[t.FormSubmission]:
        """Every submission of the form, the newest first, page after page."""
        return self._runner.walk(f"{self._path}/{id}/submissions", params)


class EmailCampaigns(Crud[t.EmailCampaign]):
    def send(
        self,
        id: str,
        *,
        group_ids: list[str] | None = None,
        tag_ids: list[str] | None = None,
        scheduled_at: str | None = None,
        audience: t.Audience | None = None,
    ) -> t.EmailCampaign:
        """Send to every active contact of `audience` (`{"all": True}`, or groupIds, tagIds
        and segmentIds, with an optional `exclude`), or else in any of these groups or tags
        (now, or at `scheduled_at`, RFC 3339)."""
        body = _core.send_body(group_ids, tag_ids, scheduled_at, audience)
        return self._one("POST", f"/{id}/send", json=body)

    def audience_count(self, id: str, audience: t.Audience) -> t.AudienceCount:
        """How many active contacts `audience` reaches now (`{"count": n}`)."""
        path = f"{self._path}/{id}/audienceCount"
        return cast(t.AudienceCount, self._runner.json("POST", path, json={"audience": audience}))

    def cancel(self, id: str) -> t.EmailCampaign:
        return self._one("POST", f"/{id}/cancel")

    def resume(self, id: str) -> t.EmailCampaign:
        """Resume a paused campaign (the relay refused the sender): what was left queued
        goes out, each email once."""
        return self._one("POST", f"/{id}/resume")

    def test(self, id: str, emails: list[str]) -> t.TestSent:
        """Send a test copy now to up to 10 addresses."""
        path = f"{self._path}/{id}/test"
        return cast(t.TestSent, self._runner.json("POST", path, json={"emails": emails}))

    def report(self, id: str) -> t.CampaignReport:
        return cast(t.CampaignReport, self._runner.json("GET", f"{self._path}/{id}/report"))


class EmailAutomations(Crud[t.EmailAutomation]):
    def report(self, id: str) -> t.AutomationReport:
        return cast(t.AutomationReport, self._runner.json("GET", f"{self._path}/{id}/report"))


class Webhooks(Crud[t.Webhook]):
    """Webhooks (the `secret` of a new one is in `create`'s result only) and their
    delivery log."""

    def deliveries(self, id: str, **params: Any) -> Iterator[t.WebhookDelivery]:
        return self._runner.walk(f"{self._path}/{id}/deliveries", params)

    def retry_delivery(self, id: str, delivery_id: str) -> t.DeliveryRetry:
        path = f"{self._path}/{id}/deliveries/{delivery_id}/retry"
        return cast(t.DeliveryRetry, self._runner.json("POST", path))

    def rotate_secret(self, id: str) -> t.Webhook:
        return self._one("POST", f"/{id}/rotateSecret")


class ContactImports(Collection[t.ContactImport]):
    def upload(
        self,
        source: _core.Source,
        *,
        format: str = "csv",
        update: bool = True,
        wait: bool = True,
        on_progress: Callable[[t.ContactImport], None] | None = None,
        poll_interval: float = 0.5,
    ) -> t.ContactImport:
        """Import a CSV or NDJSON (`format="ndjson"`) file: a path, bytes or a binary
        file, streamed. With `wait`, follow it until it is completed or failed, calling
        `on_progress` with each state seen."""
        flow = _core.upload(
            self._runner.core, source, format, update, wait, on_progress, poll_interval
        )
        return cast(t.ContactImport, self._runner.run(flow))


class Client(_core.Base):
    """The ActiveCommerce API, synchronously. Credentials and options: see `Options`
    (`api_key=`, an OAuth `access_token=`/`refresh_token=`, or `client_id=` +
    `client_secret=` for the client credentials grant)."""

    def __init__(
        self,
        base_url: str = _core.DEFAULT_BASE_URL,
        *,
        http_client: httpx.Client | None = None,
        **options: Unpack[_core.Options],
    ) -> None:
        self._core = _core.make_core(options)
        timeout = options.get("timeout", 30.0)
        self._http = http_client or httpx.Client(base_url=base_url, timeout=timeout)
        runner = self._runner = Runner(self._http, self._core)
        self.contacts = Contacts(runner, "/v3/contacts")
        self.contact_groups = Crud[t.ContactGroup](runner, "/v3/contactGroups")
        self.contact_tags = Crud[t.ContactTag](runner, "/v3/contactTags")
        self.contact_fields = Crud[t.ContactField](runner, "/v3/contactFields")
        self.contact_imports = ContactImports(runner, "/v3/contactImports")
        self.pipelines = Crud[t.Pipeline](runner, "/v3/pipelines")
        self.deal_stages = Crud[t.DealStage](runner, "/v3/dealStages")
        self.deal_statuses = Crud[t.DealStatus](runner, "/v3/dealStatuses")
        self.deals = Crud[t.Deal](runner, "/v3/deals")
        self.brands = Crud[t.Brand](runner, "/v3/brands")
        self.segments = Segments(runner, "/v3/segments")
        self.suppressions = Suppressions(runner, "/v3/suppressions")
        self.sending_domains = SendingDomains(runner, "/v3/sendingDomains")
        self.forms = Forms(runner, "/v3/forms")
        self.email_campaigns = EmailCampaigns(runner, "/v3/emailCampaigns")
        self.email_automations = EmailAutomations(runner, "/v3/emailAutomations")
        self.webhooks = Webhooks(runner, "/v3/webhooks")
        self.sandbox_emails = Collection[t.CapturedEmail](runner, "/v3/sandbox/emails")
        self.api_keys = Registry[t.ApiKey](runner, "/v3/apiKeys")
        self.oauth_clients = Registry[t.OAuthClient](runner, "/v3/oauthClients")

    def account(self) -> t.Account:
        """The account: its name, plan and default postal address."""
        return cast(t.Account, self._runner.json("GET", "/v3/account"))

    def update_account(self, body: Mapping[str, Any] | None = None, /, **fields: Any) -> t.Account:
        """Change the account's settings, only the fields sent (API names):
        `update_account(postalAddress="1 Main St, Springfield")`; None clears it."""
        changes = {**(body or {}), **fields}
        return cast(t.Account, self._runner.json("PATCH", "/v3/account", json=changes))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
