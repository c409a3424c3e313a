"""Wiring in one place: what ties the domains together in a running process, done by
the composition roots (`create_app`, the worker) through `wire`, never as a side effect
of importing a module.

- Deletes that another domain must refuse or follow: a pipeline or stage with deals stays,
  what an automation's trigger names stays, a deleted brand or contact is cleared from
  the campaigns, automations and deals that named it (the `Resource` delete guards and
  reference clearing, declared by the domain that refers, in its `guard_references`).
- The event subscribers, called in the transaction that records an event: webhooks'
  fan-out (a delivery job per webhook that wants the event) and automations' enrolment.
"""

from __future__ import annotations

from activecommerce.automations import service as automations
from activecommerce.automations.enrolment import enrol, enrol_interest
from activecommerce.campaigns import service as campaigns
from activecommerce.deals import service as deals
from activecommerce.kit import events
from activecommerce.webhooks.service import fan_out, fan_out_interest

# The Resources are one per process, and so are the guards on their deletes.
_guarded = False


def wire() -> events.Subscribers:
    """Register the delete guards (once per process: calling again changes nothing) and
    put in force the event subscribers (a new registry each call, the same subscribers)."""
    global _guarded
    if not _guarded:
        # In this order, the guards a pipeline's delete runs (the automations' first).
        campaigns.guard_references()
        automations.guard_references()
        deals.guard_references()
        _guarded = True
    subscribers = events.Subscribers()
    subscribers.subscribe(fan_out, fan_out_interest)
    subscribers.subscribe(enrol, enrol_interest)
    events.install(subscribers)
    return subscribers
