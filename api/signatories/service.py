"""Signatories: a report's owner joins a campaign with the identity its channel needs, under
separate consents per purpose and recipient, and can leave again with one click.

Two stores (legal-research.md §5.4): the report stays anonymous; the identity lives in
`signatory_identity`, one AES-256-GCM ciphertext per field, readable only by the campaign's
assigned lawyers while the `share_with_lawyer` consent stands, and every reading is audited.

The consent ledger is chained at insert, under a lock on its head row, rather than sealed
afterwards like the audit log: consents come at the pace of people filling in a form, so the
lock costs nothing, and a consent is in the chain the moment it is committed. The same lock
serializes joins, which makes the member numbers (S001, S002, …) gap-free and race-free.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.campaigns import service as campaign_service
from api.campaigns.channels import ChannelRules, get_channel
from api.campaigns.models import (
    Campaign,
    CampaignCluster,
    CampaignLawyer,
    CampaignStatus,
)
from api.clusters import service as cluster_service
from api.clusters.models import ClusterMembership
from api.config import PACKAGE_DATA_DIR, Settings
from api.errors import Conflict, DomainError, Forbidden, NotFound, validation_body
from api.evidence import service as evidence_service
from api.evidence.models import EvidenceFile
from api.i18n import Language, translate
from api.reports.models import Report, ReportStatus
from api.signatories.crypto import KeyRing, SealedValue, id_number_hash
from api.signatories.fields import FieldKind, FieldProblem, FieldSpec, birth_date_of, clean_value
from api.signatories.fields import spec_for as field_spec
from api.signatories.models import (
    Consent,
    ConsentLedgerEntry,
    ConsentLedgerHead,
    ConsentPurpose,
    LedgerAction,
    Signatory,
    SignatoryIdentity,
    SignatoryRole,
    SignatoryStatus,
    WithdrawalCause,
)
from api.signatories.schemas import JoinSubmission
from api.staff import service as staff_service
from api.staff.models import StaffRole, StaffUser

CONSENT_DIR = PACKAGE_DATA_DIR / "consent"
GENESIS_HASH = "0" * 64
HEAD_ID = 1
VIEW = "view"
EXPORT = "export"
_AUDIT_ACTIONS = {VIEW: "signatories.viewed", EXPORT: "signatories.exported"}
RECIPIENT_ORGANIZERS = "organizers"
RECIPIENT_LAWYERS = "campaign_lawyers"
REQUIRED_PURPOSES = (
    ConsentPurpose.join_group,
    ConsentPurpose.share_with_lawyer,
    ConsentPurpose.file_with_recipient,
)
OPTIONAL_PURPOSES = (ConsentPurpose.contact_for_updates,)
SUBJECT_TYPE = "signatory"


def channel_recipient(channel: str) -> str:
    return f"channel_recipient:{channel}"


def member_code(number: int) -> str:
    return f"S{number:03d}"


@lru_cache(maxsize=1)
def default_key_ring() -> KeyRing:
    """The key ring of the environment's settings, for callers that were not handed one."""
    return settings_key_ring(Settings())


def settings_key_ring(settings: Settings) -> KeyRing:
    return KeyRing(settings.identity_key_ring)


def settings_hash_key(settings: Settings) -> bytes:
    return settings.identity_hash_key.get_secret_value().encode("utf-8")


class JoinInvalid(DomainError):
    """Several join-form fields at once, each with a reason under `signatory.reason.*`."""

    status_code = 422
    code = "validation_failed"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("error.validation_failed")
        self.problems = problems

    def messages(self, language: Language) -> list[tuple[str, str]]:
        return [
            (field, translate(language, f"signatory.reason.{reason}"))
            for field, reason in self.problems
        ]

    def body(self, language: Language) -> dict[str, Any]:
        body = validation_body(language, [(field, reason, {}) for field, reason in self.problems])
        for error, (_field, message) in zip(body["errors"], self.messages(language), strict=True):
            error["message"] = message
        summary = "; ".join(f"{field}: {message}" for field, message in self.messages(language))
        body["detail"] = translate(language, "error.validation_failed", summary=summary)
        return body


# Which campaigns a report can join


def _member_campaign_ids(session: Session, report: Report) -> set[int]:
    """Campaigns whose clusters hold the report in the latest succeeded grouping run; the same
    rule as campaign membership (api.campaigns.service), seen from the report's side."""
    run = cluster_service.latest_succeeded_run(session)
    if run is None or report.status != ReportStatus.active:
        return set()
    rows = session.scalars(
        select(CampaignCluster.campaign_id)
        .join(
            ClusterMembership,
            (ClusterMembership.cluster_key == CampaignCluster.cluster_key)
            & (ClusterMembership.run_id == run.id),
        )
        .where(ClusterMembership.report_id == report.id)
    )
    return set(rows)


@dataclass(frozen=True)
class ReportCampaign:
    campaign: Campaign
    rules: ChannelRules
    # None while the report has not joined.
    signatory: Signatory | None

    @property
    def can_join(self) -> bool:
        return self.signatory is None and self.campaign.status == CampaignStatus.open_for_signatures

    @property
    def can_leave(self) -> bool:
        return self.signatory is not None and self.signatory.status == SignatoryStatus.active


def campaigns_for_report(session: Session, report: Report) -> list[ReportCampaign]:
    """Campaigns the report has joined (in any status, so it can always leave), then the open
    ones it belongs to and could join. A campaign it left stays listed as left and is never
    offered again (Network Data Regulations Art. 22: no asking again after a refusal)."""
    joined = {
        signatory.campaign_id: signatory
        for signatory in session.scalars(select(Signatory).where(Signatory.report_id == report.id))
    }
    open_ids = {
        campaign_id
        for campaign_id in _member_campaign_ids(session, report)
        if campaign_id not in joined
    }
    campaigns = session.scalars(
        select(Campaign)
        .where(
            Campaign.id.in_(set(joined))
            | (Campaign.id.in_(open_ids) & (Campaign.status == CampaignStatus.open_for_signatures))
        )
        .order_by(Campaign.id)
    )
    found = [
        ReportCampaign(campaign, get_channel(campaign.channel), joined.get(campaign.id))
        for campaign in campaigns
    ]
    return sorted(found, key=lambda item: (item.signatory is None, item.campaign.id))


def _joinable_campaign(session: Session, report: Report, campaign_slug: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.slug == campaign_slug))
    if campaign is None:
        raise NotFound("signatory.error.not_open")
    existing = _signatory_of(session, campaign.id, report.id)
    if existing is not None:
        if existing.status == SignatoryStatus.withdrawn:
            raise Conflict("signatory.error.left")
        raise Conflict("signatory.error.already_joined")
    # One answer for "not open" and "not a member": the reporter learns nothing about
    # campaigns their report is not part of.
    if (
        campaign.status != CampaignStatus.open_for_signatures
        or campaign.id not in _member_campaign_ids(session, report)
    ):
        raise NotFound("signatory.error.not_open")
    return campaign


def _signatory_of(session: Session, campaign_id: int, report_id: str) -> Signatory | None:
    return session.scalar(
        select(Signatory).where(
            Signatory.campaign_id == campaign_id, Signatory.report_id == report_id
        )
    )


def collected_fields(rules: ChannelRules) -> list[str]:
    """The channel's identity fields the form asks for (not those signed on paper)."""
    return [key for key in rules.identity_fields if field_spec(key).is_collected]


# Consent texts


@lru_cache(maxsize=2)
def consent_catalogue(language: Language) -> dict[str, Any]:
    with (CONSENT_DIR / f"{language}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


@dataclass(frozen=True)
class ConsentText:
    purpose: ConsentPurpose
    recipient: str
    version: str
    language: Language
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def is_required(self) -> bool:
        return self.purpose in REQUIRED_PURPOSES


def _recipient(purpose: ConsentPurpose, campaign: Campaign) -> str:
    if purpose == ConsentPurpose.join_group:
        return RECIPIENT_ORGANIZERS
    if purpose == ConsentPurpose.file_with_recipient:
        return channel_recipient(campaign.channel)
    return RECIPIENT_LAWYERS


def consent_texts(
    session: Session, campaign: Campaign, *, language: Language, retention_days: int
) -> list[ConsentText]:
    """The texts the join form shows, one per purpose and recipient, filled in for this
    campaign: who receives which data and for what, in the reporter's language."""
    catalogue = consent_catalogue(language)
    rules = get_channel(campaign.channel)
    separator = catalogue["field_separator"]
    lawyers = separator.join(
        lawyer.display_name for lawyer in campaign_service.assigned_lawyers(session, campaign)
    )
    fields = separator.join(
        translate(language, f"signatory.field.{key}") for key in collected_fields(rules)
    )
    values = {
        "campaign": campaign.title,
        "channel": rules.name(language),
        "recipient": rules.recipient(language),
        "lawyers": lawyers or catalogue["no_lawyer"],
        "fields": fields,
        "retention_days": retention_days,
    }
    return [
        ConsentText(
            purpose=purpose,
            recipient=_recipient(purpose, campaign),
            version=catalogue["version"],
            language=language,
            text=catalogue["texts"][purpose].format(**values),
        )
        for purpose in (*REQUIRED_PURPOSES, *OPTIONAL_PURPOSES)
    ]


# The join form


@dataclass(frozen=True)
class JoinForm:
    campaign: Campaign
    rules: ChannelRules
    # What is typed in, and what is chosen from the report's evidence, in the channel's order.
    fields: tuple[FieldSpec, ...]
    # Signed on paper with the lawyer later.
    paper_fields: tuple[str, ...]
    evidence: tuple[EvidenceFile, ...]
    consents: tuple[ConsentText, ...]

    @property
    def can_represent(self) -> bool:
        return self.rules.representatives.max != 0


def join_form(
    session: Session,
    *,
    report: Report,
    campaign_slug: str,
    language: Language,
    retention_days: int,
) -> JoinForm:
    campaign = _joinable_campaign(session, report, campaign_slug)
    rules = get_channel(campaign.channel)
    specs = [field_spec(key) for key in rules.identity_fields]
    return JoinForm(
        campaign=campaign,
        rules=rules,
        fields=tuple(spec for spec in specs if spec.is_collected),
        paper_fields=tuple(spec.key for spec in specs if not spec.is_collected),
        evidence=tuple(evidence_service.list_evidence(session, report.id)),
        consents=tuple(
            consent_texts(session, campaign, language=language, retention_days=retention_days)
        ),
    )


@dataclass(frozen=True)
class CheckedJoin:
    identity: dict[str, str]
    evidence_ids: list[str]
    role: SignatoryRole
    consents: set[ConsentPurpose]


def check_submission(form: JoinForm, submission: JoinSubmission) -> CheckedJoin:
    """Every problem at once, each naming its field; JoinInvalid if there is any."""
    problems: list[tuple[str, str]] = []
    identity: dict[str, str] = {}
    evidence_order = [item.id for item in form.evidence]
    known_evidence = set(evidence_order)
    chosen: set[str] = set()
    for spec in form.fields:
        name = f"identity.{spec.key}"
        if spec.kind == FieldKind.evidence:
            ids = submission.evidence_fields.get(spec.key, [])
            if not known_evidence:
                problems.append((name, "no_evidence"))
            elif not ids:
                problems.append((name, "missing"))
            elif not set(ids) <= known_evidence:
                problems.append((name, "unknown_evidence"))
            else:
                ordered = [item for item in evidence_order if item in set(ids)]
                identity[spec.key] = " ".join(ordered)
                chosen.update(ordered)
            continue
        try:
            identity[spec.key] = clean_value(spec, submission.identity.get(spec.key, ""))
        except FieldProblem as problem:
            problems.append((name, problem.reason))
    if (
        "date_of_birth" in identity
        and "id_number" in identity
        and birth_date_of(identity["id_number"]) != identity["date_of_birth"]
    ):
        problems.append(("identity.date_of_birth", "birth_date_mismatch"))
    if not set(submission.shared_evidence_ids) <= known_evidence:
        problems.append(("shared_evidence", "unknown_evidence"))
    else:
        chosen.update(submission.shared_evidence_ids)
    for purpose in REQUIRED_PURPOSES:
        if purpose not in submission.consents:
            problems.append((f"consent.{purpose}", "consent_required"))
    if submission.wants_to_represent and not form.can_represent:
        problems.append(("represent", "no_representatives"))
    if problems:
        raise JoinInvalid(problems)
    return CheckedJoin(
        identity=identity,
        evidence_ids=[item for item in evidence_order if item in chosen],
        role=(
            SignatoryRole.proposed_representative
            if submission.wants_to_represent
            else SignatoryRole.member
        ),
        consents=set(submission.consents),
    )


# The ledger


def _locked_head(session: Session) -> ConsentLedgerHead:
    """The head row, locked until the transaction ends (see api.audit.service._locked_head:
    the no-op UPDATE takes PostgreSQL's row lock and makes this SQLite's writing transaction)."""
    session.execute(
        update(ConsentLedgerHead)
        .where(ConsentLedgerHead.id == HEAD_ID)
        .values(last_seq=ConsentLedgerHead.last_seq)
    )
    return session.execute(
        select(ConsentLedgerHead).where(ConsentLedgerHead.id == HEAD_ID)
    ).scalar_one()


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    seq: int,
    previous_hash: str,
    consent_id: int,
    action: str,
    occurred_at: datetime,
    content: dict[str, Any],
) -> str:
    canonical = json.dumps(
        [seq, previous_hash, consent_id, action, _moment(occurred_at), content],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _consent_content(consent: Consent) -> dict[str, Any]:
    return {
        "signatory_id": consent.signatory_id,
        "campaign_id": consent.campaign_id,
        "purpose": str(consent.purpose),
        "recipient": consent.recipient,
        "text_version": consent.text_version,
        "text_sha256": consent.text_sha256,
        "language": consent.language,
    }


def _append(
    session: Session,
    head: ConsentLedgerHead,
    consent: Consent,
    action: LedgerAction,
    occurred_at: datetime,
    extra: dict[str, Any] | None = None,
) -> ConsentLedgerEntry:
    content = {**_consent_content(consent), **(extra or {})}
    seq = head.last_seq + 1
    entry = ConsentLedgerEntry(
        seq=seq,
        consent_id=consent.id,
        action=action,
        occurred_at=occurred_at,
        content=content,
        previous_hash=head.last_hash,
        entry_hash=entry_hash(seq, head.last_hash, consent.id, action, occurred_at, content),
    )
    session.add(entry)
    head.last_seq = seq
    head.last_hash = entry.entry_hash
    return entry


@dataclass(frozen=True)
class LedgerCheck:
    entries: int
    # Entries whose content or link does not match: changed, or the entry before was deleted.
    broken_seqs: list[int]
    # False when the newest entries were deleted, or the head row was changed.
    head_matches: bool
    # Consent rows that say something the ledger does not (text, times, purpose), or that the
    # ledger has no "given" entry for.
    altered_consent_ids: list[int]

    @property
    def is_intact(self) -> bool:
        return not self.broken_seqs and self.head_matches and not self.altered_consent_ids


def verify_ledger(session: Session) -> LedgerCheck:
    broken: list[int] = []
    expected_seq, expected_previous = 1, GENESIS_HASH
    entries = 0
    given: dict[int, ConsentLedgerEntry] = {}
    withdrawn: dict[int, ConsentLedgerEntry] = {}
    for entry in session.scalars(
        select(ConsentLedgerEntry)
        .order_by(ConsentLedgerEntry.seq)
        .execution_options(yield_per=2000)
    ):
        entries += 1
        intact = (
            entry.seq == expected_seq
            and entry.previous_hash == expected_previous
            and entry.entry_hash
            == entry_hash(
                entry.seq,
                expected_previous,
                entry.consent_id,
                entry.action,
                entry.occurred_at,
                entry.content,
            )
        )
        if not intact:
            broken.append(entry.seq)
        (given if entry.action == LedgerAction.given else withdrawn)[entry.consent_id] = entry
        expected_seq = entry.seq + 1
        expected_previous = entry.entry_hash
    head = session.get(ConsentLedgerHead, HEAD_ID)
    head_matches = head is not None and (head.last_seq, head.last_hash) == (
        expected_seq - 1,
        expected_previous,
    )
    altered = []
    for consent in session.scalars(select(Consent).order_by(Consent.id)):
        given_entry = given.get(consent.id)
        withdrawn_entry = withdrawn.get(consent.id)
        matches = (
            given_entry is not None
            and given_entry.content == _consent_content(consent)
            and given_entry.occurred_at == consent.given_at
            and hashlib.sha256(consent.text.encode("utf-8")).hexdigest() == consent.text_sha256
            and (withdrawn_entry.occurred_at if withdrawn_entry else None) == consent.withdrawn_at
        )
        if not matches:
            altered.append(consent.id)
    return LedgerCheck(entries, broken, head_matches, altered)


# Joining


def join_campaign(
    session: Session,
    *,
    report: Report,
    campaign_slug: str,
    submission: JoinSubmission,
    language: Language,
    key_ring: KeyRing,
    hash_key: bytes,
    retention_days: int,
    now: datetime,
) -> Signatory:
    """Join: check the form, then under the ledger lock check for duplicates, number the
    signatory, seal the identity and write one consent per purpose and recipient."""
    # The lock comes first, so that on SQLite this transaction becomes the writer before it
    # reads, and what is checked below cannot change before the insert.
    head = _locked_head(session)
    form = join_form(
        session,
        report=report,
        campaign_slug=campaign_slug,
        language=language,
        retention_days=retention_days,
    )
    checked = check_submission(form, submission)
    campaign = form.campaign
    id_number = checked.identity.get("id_number")
    person = id_number_hash(hash_key, id_number) if id_number else None
    if person is not None and session.scalar(
        select(
            exists().where(Signatory.campaign_id == campaign.id, Signatory.identity_hash == person)
        )
    ):
        raise Conflict("signatory.error.duplicate_person")
    number = (
        session.scalar(
            select(func.max(Signatory.member_number)).where(Signatory.campaign_id == campaign.id)
        )
        or 0
    ) + 1
    signatory = Signatory(
        campaign_id=campaign.id,
        report_id=report.id,
        member_number=number,
        member_code=member_code(number),
        role=checked.role,
        status=SignatoryStatus.active,
        language=language,
        identity_fields=[spec.key for spec in form.fields],
        evidence_ids=checked.evidence_ids,
        identity_hash=person,
        joined_at=now,
    )
    session.add(signatory)
    session.flush()
    for field, value in checked.identity.items():
        sealed = key_ring.seal(value, signatory_id=signatory.id, field=field)
        session.add(
            SignatoryIdentity(
                signatory_id=signatory.id,
                field=field,
                key_id=sealed.key_id,
                nonce=sealed.nonce,
                ciphertext=sealed.ciphertext,
                sealed_at=now,
            )
        )
    for text in form.consents:
        if text.purpose not in checked.consents:
            continue
        consent = Consent(
            signatory_id=signatory.id,
            campaign_id=campaign.id,
            purpose=text.purpose,
            recipient=text.recipient,
            text_version=text.version,
            language=text.language,
            text=text.text,
            text_sha256=text.sha256,
            given_at=now,
        )
        session.add(consent)
        session.flush()
        _append(session, head, consent, LedgerAction.given, now)
    session.flush()
    audit_service.record_event(
        session,
        occurred_at=now,
        actor="reporter",
        action="signatory.joined",
        subject_type=SUBJECT_TYPE,
        subject_id=str(signatory.id),
        details={
            "campaign_id": campaign.id,
            "member_code": signatory.member_code,
            "role": str(signatory.role),
            "consents": sorted(str(purpose) for purpose in checked.consents),
            "identity_fields": len(checked.identity),
            "evidence_files": len(checked.evidence_ids),
        },
    )
    return signatory


# Leaving, and removing identities


def _purge_identity(session: Session, signatory: Signatory, now: datetime) -> int:
    rows = list(
        session.scalars(
            select(SignatoryIdentity).where(SignatoryIdentity.signatory_id == signatory.id)
        )
    )
    for row in rows:
        session.delete(row)
    signatory.identity_hash = None
    signatory.identity_purged_at = now
    return len(rows)


def _withdraw(
    session: Session,
    signatory: Signatory,
    campaign: Campaign,
    *,
    cause: WithdrawalCause,
    actor: str,
    now: datetime,
) -> None:
    """Withdraw every consent still standing, delete the identity, keep the record.

    What was filed before stays filed (PIPL Art. 15(2)); the row says so with the filing time,
    and the ledger's withdrawal entries carry it too.
    """
    head = _locked_head(session)
    filed_at = campaign.filed_at
    standing = session.scalars(
        select(Consent)
        .where(Consent.signatory_id == signatory.id, Consent.withdrawn_at.is_(None))
        .order_by(Consent.id)
    ).all()
    for consent in standing:
        consent.withdrawn_at = now
        _append(
            session,
            head,
            consent,
            LedgerAction.withdrawn,
            now,
            {"cause": str(cause), "campaign_filed_at": _moment(filed_at) if filed_at else None},
        )
    signatory.status = SignatoryStatus.withdrawn
    signatory.withdrawn_at = now
    signatory.withdrawal_cause = cause
    signatory.campaign_filed_before_withdrawal_at = filed_at
    purged = _purge_identity(session, signatory, now)
    session.flush()
    audit_service.record_event(
        session,
        occurred_at=now,
        actor=actor,
        action="signatory.withdrawn",
        subject_type=SUBJECT_TYPE,
        subject_id=str(signatory.id),
        details={
            "campaign_id": campaign.id,
            "cause": str(cause),
            "consents_withdrawn": len(standing),
            "identity_fields_deleted": purged,
            "filed_before": filed_at is not None,
        },
    )


def leave_campaign(
    session: Session, *, report: Report, campaign_slug: str, now: datetime
) -> Signatory:
    """The one-click "leave": takes effect at once; leaving twice changes nothing more."""
    campaign = session.scalar(select(Campaign).where(Campaign.slug == campaign_slug))
    signatory = _signatory_of(session, campaign.id, report.id) if campaign else None
    if campaign is None or signatory is None:
        raise NotFound("signatory.error.not_joined")
    if signatory.status == SignatoryStatus.active:
        _withdraw(
            session,
            signatory,
            campaign,
            cause=WithdrawalCause.consent_withdrawn,
            actor="reporter",
            now=now,
        )
    return signatory


def remove_from_unfiled_campaigns(session: Session, report: Report, *, now: datetime) -> int:
    """A withdrawn report takes its owner out of every campaign not yet filed; campaigns that
    were filed keep them as a party until retention ends. Returns how many were removed."""
    rows = session.execute(
        select(Signatory, Campaign)
        .join(Campaign, Campaign.id == Signatory.campaign_id)
        .where(
            Signatory.report_id == report.id,
            Signatory.status == SignatoryStatus.active,
            Campaign.filed_at.is_(None),
        )
        .order_by(Signatory.id)
    ).all()
    for signatory, campaign in rows:
        _withdraw(
            session,
            signatory,
            campaign,
            cause=WithdrawalCause.report_withdrawn,
            actor="reporter",
            now=now,
        )
    return len(rows)


def on_report_withdrawn(session: Session, report: Report) -> None:
    """The `withdrawn` report hook (registered in api.main)."""
    remove_from_unfiled_campaigns(session, report, now=datetime.now(UTC))


def purge_expired_identities(session: Session, now: datetime, *, retention_days: int) -> int:
    """Delete the identities of campaigns closed more than `retention_days` ago; the signatory
    rows and consents stay as the record. Returns how many signatories were purged."""
    due = session.scalars(
        select(Signatory)
        .where(
            Signatory.campaign_id.in_(
                campaign_service.closed_before(now - timedelta(days=retention_days))
            ),
            Signatory.identity_purged_at.is_(None),
        )
        .order_by(Signatory.id)
    ).all()
    per_campaign: Counter[int] = Counter()
    for signatory in due:
        _purge_identity(session, signatory, now)
        per_campaign[signatory.campaign_id] += 1
    session.flush()
    for campaign_id, count in sorted(per_campaign.items()):
        audit_service.record_event(
            session,
            occurred_at=now,
            actor="system",
            action="signatories.identities_purged",
            subject_type="campaign",
            subject_id=str(campaign_id),
            details={"signatories": count, "retention_days": retention_days},
        )
    return len(due)


def rotate_identity_keys(session: Session, *, key_ring: KeyRing, now: datetime) -> int:
    """Re-seal every identity field not under the newest key; returns how many were re-sealed.
    Afterwards the older keys can be dropped from the settings."""
    rows = session.scalars(
        select(SignatoryIdentity)
        .where(SignatoryIdentity.key_id != key_ring.newest_key_id)
        .order_by(SignatoryIdentity.signatory_id, SignatoryIdentity.field)
    ).all()
    for row in rows:
        plaintext = key_ring.open(
            SealedValue(row.key_id, row.nonce, row.ciphertext),
            signatory_id=row.signatory_id,
            field=row.field,
        )
        sealed = key_ring.seal(plaintext, signatory_id=row.signatory_id, field=row.field)
        row.key_id, row.nonce, row.ciphertext = sealed.key_id, sealed.nonce, sealed.ciphertext
        row.sealed_at = now
    session.flush()
    if rows:
        audit_service.record_event(
            session,
            occurred_at=now,
            actor="system",
            action="signatories.keys_rotated",
            subject_type="identity_store",
            subject_id=key_ring.newest_key_id,
            details={"fields": len(rows)},
        )
    return len(rows)


# What lawyers see


@dataclass(frozen=True)
class SignatoryRecord:
    signatory_id: int
    # Pseudonymous, stable per campaign, assigned at join in join order; never reused.
    member_code: str
    report_id: str
    # "member" or "proposed_representative".
    role: str
    # Decrypted identity fields the channel asked for (keys as in channels.json).
    identity: dict[str, str]
    joined_at: datetime
    # The report's evidence file ids the signatory agreed to share with the lawyer.
    evidence_ids: list[str]


def is_assigned_lawyer(session: Session, campaign_id: int, viewer: StaffUser) -> bool:
    return (
        viewer.role == StaffRole.lawyer
        and viewer.is_active
        and session.get(CampaignLawyer, (campaign_id, viewer.id)) is not None
    )


def consenting_signatories(
    session: Session,
    *,
    campaign_id: int,
    viewer: StaffUser,
    purpose: str,
    key_ring: KeyRing | None = None,
) -> list[SignatoryRecord]:
    """Signatories whose `share_with_lawyer` consent stands, decrypted, for a lawyer assigned to
    the campaign (Forbidden for anyone else). Writes one audit event with counts only.

    `key_ring` defaults to the keys in the environment's settings, which is what the server
    runs with; callers holding the app's settings may pass `settings_key_ring(settings)`.
    """
    if purpose not in _AUDIT_ACTIONS:
        raise ValueError(f"purpose must be one of {sorted(_AUDIT_ACTIONS)}")
    if not is_assigned_lawyer(session, campaign_id, viewer):
        raise Forbidden("signatory.error.not_your_campaign")
    ring = key_ring or default_key_ring()
    sharing = exists().where(
        Consent.signatory_id == Signatory.id,
        Consent.purpose == ConsentPurpose.share_with_lawyer,
        Consent.withdrawn_at.is_(None),
    )
    signatories = session.scalars(
        select(Signatory)
        .where(
            Signatory.campaign_id == campaign_id,
            Signatory.status == SignatoryStatus.active,
            Signatory.identity_purged_at.is_(None),
            sharing,
        )
        .order_by(Signatory.member_number)
    ).all()
    identities: dict[int, dict[str, str]] = {signatory.id: {} for signatory in signatories}
    if signatories:
        for row in session.scalars(
            select(SignatoryIdentity).where(SignatoryIdentity.signatory_id.in_(identities))
        ):
            identities[row.signatory_id][row.field] = ring.open(
                SealedValue(row.key_id, row.nonce, row.ciphertext),
                signatory_id=row.signatory_id,
                field=row.field,
            )
    records = [
        SignatoryRecord(
            signatory_id=signatory.id,
            member_code=signatory.member_code,
            report_id=signatory.report_id,
            role=str(signatory.role),
            identity={
                field: identities[signatory.id][field]
                for field in signatory.identity_fields
                if field in identities[signatory.id]
            },
            joined_at=signatory.joined_at,
            evidence_ids=list(signatory.evidence_ids),
        )
        for signatory in signatories
    ]
    audit_service.record_event(
        session,
        occurred_at=datetime.now(UTC),
        actor=staff_service.staff_actor(viewer),
        action=_AUDIT_ACTIONS[purpose],
        subject_type="campaign",
        subject_id=str(campaign_id),
        details={
            "signatories": len(records),
            "representatives": sum(
                record.role == SignatoryRole.proposed_representative for record in records
            ),
        },
    )
    return records


@dataclass(frozen=True)
class SignatoryCounts:
    active: int
    withdrawn: int


def signatory_counts(session: Session, campaign_id: int) -> SignatoryCounts:
    rows = dict(
        session.execute(
            select(Signatory.status, func.count())
            .where(Signatory.campaign_id == campaign_id)
            .group_by(Signatory.status)
        ).all()
    )
    return SignatoryCounts(
        active=rows.get(SignatoryStatus.active, 0), withdrawn=rows.get(SignatoryStatus.withdrawn, 0)
    )


def consent_fingerprint(session: Session, *, campaign_id: int) -> str:
    """SHA-256 over the campaign's standing consents (id, purpose, recipient, text hash,
    given_at) in id order: a bundle that records it shows which consents it was built under."""
    consents = session.scalars(
        select(Consent)
        .where(Consent.campaign_id == campaign_id, Consent.withdrawn_at.is_(None))
        .order_by(Consent.id)
    )
    canonical = json.dumps(
        [
            [
                consent.id,
                str(consent.purpose),
                consent.recipient,
                consent.text_sha256,
                _moment(consent.given_at),
            ]
            for consent in consents
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
