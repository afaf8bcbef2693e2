"""Reconciling sends that may have reached Twilio: rows a dead sender left 'sending', looked up before any resend."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from coachbox.channels import clock_skew
from coachbox.channels.base import ChannelError
from coachbox.core.services import Services
from coachbox.store import messages

log = logging.getLogger("coachbox.outbox")

STALE_CLAIM_SECONDS = 120.0  # well above the send timeout: a live sender refreshes its claim just before sending
# The look-up's window is counted on Twilio's clock: `since` is moved there by the time elapsed on ours, measured
# back from Twilio's own time (its answer's Date header), so a box whose clock is minutes off still finds what
# Twilio took. The slack covers the header's whole seconds, the request's latency and a clock step (NTP) while
# the row waited; without a Date header the window is wide enough for any plausible skew instead.
MATCH_SLACK = timedelta(minutes=5)
UNMEASURED_SLACK = timedelta(minutes=30)

# Identifies this process's claims: a crashed process's rows can be reconciled at once, a live one's not.
_PROCESS_NONCE = uuid.uuid4().hex[:8]


def _pid_namespace() -> str:
    # Two containers may share a hostname (compose `hostname:`, host networking) but not pids: a pid is only
    # checked for liveness when it comes from our own pid namespace.
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return ""


def claimer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_NONCE}:{_pid_namespace()}"


async def lookup(
    services: Services, address: str, body: str, since: datetime, template: bool, taken: set[str]
) -> str | None:
    """The sid of a message Twilio holds to `address` since the claim (`since`, on the box's clock), matching our
    body, not yet ours. The window is counted on Twilio's clock, so the box's clock being off changes nothing."""
    find = getattr(services.channel, "find_sent", None)
    if find is None:
        return None  # the simulator: nothing to ask
    listing = await find(address, since)
    now = services.clock.now()
    if listing.provider_time is not None:
        clock_skew.note(services.cache, listing.provider_time, now)
        start = listing.provider_time - (now - since) - MATCH_SLACK  # `since` on Twilio's clock, less the slack
    else:
        start = since - UNMEASURED_SLACK
    candidates = sorted(listing.messages, key=lambda m: m.date_created or start)
    for message in candidates:
        if message.sid in taken or (message.date_created and message.date_created < start):
            continue
        if not template and message.body != body:
            continue
        if await services.db.run(messages.sid_is_recorded, message.sid):
            continue
        taken.add(message.sid)
        return message.sid
    return None


def _claim_is_stale(claimed_by: str | None, claimed_at: datetime | None, now: datetime, stale_after: float) -> bool:
    if claimed_at is None or (now - claimed_at).total_seconds() > stale_after:
        return True
    host, _, rest = (claimed_by or "").partition(":")
    pid_text, _, rest = rest.partition(":")
    nonce, _, namespace = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or namespace != _pid_namespace():
        return False  # another box's (or container's) claim: only age tells
    pid = int(pid_text)
    if pid == os.getpid():
        return nonce != _PROCESS_NONCE  # our pid, an earlier life (containers reuse pids)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # that sender is dead: its claims are orphans now
    except PermissionError:
        return False
    return False


async def reconcile(services: Services, *, stale_after: float = STALE_CLAIM_SECONDS) -> int:
    """Rows left 'sending' by a dead sender: confirmed from Twilio's records, or released for a resend."""
    now = services.clock.now()
    rows = await services.db.run(messages.sending_outbound)
    taken: set[str] = set()
    settled = 0
    # A channel that cannot list what it sent (Meta's Cloud API) learns it from its status webhooks instead: each
    # carries our row id (biz_opaque_callback_data) and marks the row sent. A dead sender's claim is left alone
    # until they had time to arrive; after that, no status means Meta never took the message, and it is resent.
    settle = float(getattr(services.channel, "status_settle_seconds", 0.0) or 0.0)
    for row in rows:
        claimed_at = datetime.fromisoformat(row["claimed_at"]) if row["claimed_at"] else None
        if not _claim_is_stale(row["claimed_by"], claimed_at, now, stale_after):
            continue
        if settle and claimed_at is not None and (now - claimed_at).total_seconds() < settle:
            continue
        since = claimed_at or datetime.fromisoformat(row["created_at"])
        try:
            sid = await lookup(services, row["address"], row["body"], since, bool(row["use_template"]), taken)
        except ChannelError as exc:
            log.warning("outbox reconcile could not ask Twilio; will try again", extra={"error": str(exc)})
            return settled
        stamp = services.clock.now().isoformat()
        # Both compare claimed_at with what was read: a live sender that refreshed its claim meanwhile keeps the row.
        if sid:
            await services.db.run(
                messages.mark_stale_claim_sent, row["id"], row["claimed_by"], row["claimed_at"], sid, stamp
            )
        else:
            await services.db.run(messages.release_stale_claim, row["id"], row["claimed_by"], row["claimed_at"], stamp)
        settled += 1
        log.info("outbox reconciled", extra={"message_id": row["id"], "found": bool(sid)})
    return settled
