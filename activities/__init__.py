"""Every side effect of the engine: the database, letters, the post, the agencies' systems.

One module per agency or external system. `build_activities` wires their dependencies once per
worker process.

Agency systems (each activity named exactly as the catalog's ``Step.activity``):

- `activities.one_stop`: ``one-stop.check-completeness``, ``one-stop.check-identity``
- `activities.land`: ``land.check-parcel`` (cadastral book)
- `activities.tax`: ``tax.compute-obligation`` (land price table)
- `activities.civil_status`: ``justice.register-birth``, ``justice.check-marital-status``
- `activities.residence`: ``police.register-residence``
- `activities.health_insurance`: ``social-security.issue-health-card``

Letters and notifications (scheduled by the dossier workflow on the one-stop desk's queue):

- `activities.letters`: ``letters.issue-apology`` (form 04, exactly once per missed appointment),
  ``letters.appointment-moved`` (a calendar amendment moved the appointment),
  ``letters.applicant-notice`` (forms 02, 03 and 05 and the reminder to supplement, by e-mail)
- `activities.notify`: ``notify.agency`` (warnings and escalations to an agency)

The registry's read model (steps, form 05 ledger, documents, audit log; the reports read it):

- `activities.registry`: ``registry.sync`` (idempotent upserts of what changed)

Home delivery (the post office behind `activities.post.PostalService`; simulated here):

- `activities.post`: ``post.dispatch``, ``post.attempt-delivery``, ``post.return-to-desk``

Outside systems, each on its own queue (`engine.names.outside_task_queue`):

- `activities.portal`: ``portal.push-pending`` (status reports to the national portal, from the
  outbox the registry writes; behind `activities.portal.NationalPortal`, simulated here)
- `activities.sms`: ``sms.push-pending`` (text messages to applicants, from the SMS outbox;
  behind `activities.sms.SmsGateway`, simulated here)
- `activities.einvoice`: ``einvoice.push-pending`` (electronic fee receipts to the tax
  authority, from the outbox `store.receipts` writes; behind
  `activities.einvoice.TaxAuthorityEInvoice`, simulated here)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.civil_status import CivilStatusActivities
from activities.einvoice import EInvoiceActivities, SimulatedTaxAuthority, TaxAuthorityEInvoice
from activities.health_insurance import HealthInsuranceActivities
from activities.land import LandActivities
from activities.letters import LetterActivities
from activities.notify import NotifyActivities, channel_from_settings
from activities.one_stop import OneStopActivities
from activities.portal import NationalPortal, PortalActivities, SimulatedPortal
from activities.post import PostActivities, PostalService, SimulatedPostOffice
from activities.reception import ReceptionActivities
from activities.registry import RegistryActivities
from activities.residence import ResidenceActivities
from activities.sms import SimulatedSmsGateway, SmsActivities, SmsGateway
from activities.tax import TaxActivities
from domain.catalog import Catalog, default_catalog
from domain.clock import LegalClock
from engine.settings import Settings, get_settings


def build_activities(
    sessions: async_sessionmaker[AsyncSession],
    *,
    catalog: Catalog | None = None,
    clock: LegalClock | None = None,
    settings: Settings | None = None,
    post: PostalService | None = None,
    portal: NationalPortal | None = None,
    sms: SmsGateway | None = None,
    einvoice: TaxAuthorityEInvoice | None = None,
) -> list[Callable[..., Any]]:
    """All activity callables, bound to their dependencies.

    Args:
        sessions: The registry's sessions (the agencies' registers live there too).
        catalog: The procedure catalog; the shipped one by default (tests pass their own).
        clock: The legal clock dossiers are planned with; by default the shipped calendar,
            re-read when its file changes.
        settings: Where letters go and how mail is sent; the process's settings by default.
        post: The postal operator; the simulated post office (rates from settings) by default.
        portal: The national portal; the simulated one (failure rate from settings) by default.
        sms: The SMS gateway; the simulated one (failure rate from settings) by default.
        einvoice: The tax authority's e-invoice system; the simulated one (failure rate from
            settings) by default.
    """
    catalog = catalog or default_catalog()
    reception = ReceptionActivities(catalog, clock)
    one_stop = OneStopActivities(catalog)
    land = LandActivities(sessions)
    tax = TaxActivities(sessions)
    civil_status = CivilStatusActivities(sessions)
    residence = ResidenceActivities(sessions)
    health_insurance = HealthInsuranceActivities(sessions)
    settings = settings or get_settings()
    # One channel for the process: SMTP when LIENTHONG_SMTP_HOST is set, else the outbox.
    channel = channel_from_settings(settings)
    letters = LetterActivities(sessions, catalog, settings, channel)
    notify = NotifyActivities(sessions, catalog, settings, channel)
    registry = RegistryActivities(sessions)
    post = post or SimulatedPostOffice(settings.post_absent_rate, settings.post_not_found_rate)
    delivery = PostActivities(sessions, post, settings, channel)
    portal = portal or SimulatedPortal(sessions, failure_rate=settings.portal_failure_rate)
    portal_sync = PortalActivities(sessions, portal)
    sms = sms or SimulatedSmsGateway(sessions, failure_rate=settings.sms_failure_rate)
    texts = SmsActivities(sessions, sms, settings)
    einvoice = einvoice or SimulatedTaxAuthority(
        sessions, failure_rate=settings.einvoice_failure_rate
    )
    receipts = EInvoiceActivities(sessions, einvoice)
    return [
        reception.plan_dossier,
        reception.calendar,
        one_stop.check_completeness,
        one_stop.check_identity,
        land.check_parcel,
        tax.compute_obligation,
        civil_status.register_birth,
        civil_status.check_marital_status,
        residence.register_residence,
        health_insurance.issue_health_card,
        letters.issue_apology,
        letters.appointment_moved,
        letters.applicant_notice,
        notify.notify_agency,
        registry.sync,
        delivery.dispatch,
        delivery.attempt_delivery,
        delivery.return_to_desk,
        portal_sync.push_pending,
        texts.push_pending,
        receipts.push_pending,
    ]
