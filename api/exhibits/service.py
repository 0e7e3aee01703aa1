"""Exhibit bundles: who may ask for one, the build's life (queued → running → succeeded or
failed), the Bates numbers evidence keeps across builds, and gathering a build's inputs from the
database into a `render.BundleSpec`.

Only a lawyer assigned to the campaign requests, builds (as the requester) and downloads a
bundle; the signatory list is read through `api.signatories`, which audits the reading.
"""

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit import service as audit_service
from api.campaigns import documents, facts
from api.campaigns import service as campaign_service
from api.campaigns.channels import get_channel
from api.campaigns.models import Campaign, CampaignLawyer, FactPatternVersion
from api.clusters import service as cluster_service
from api.errors import Conflict, NotFound
from api.evidence.models import EvidenceCustodyEvent, EvidenceFile
from api.exhibits import render
from api.exhibits.models import ACTIVE_STATUSES, BatesAssignment, BundleStatus, ExhibitBundle
from api.i18n import Language, catalogue, translate
from api.reports.models import Report, ReportUpdate
from api.signatories import service as signatory_service
from api.signatories.crypto import KeyRing
from api.staff import service as staff_service
from api.staff.models import StaffUser

SUBJECT_TYPE = "exhibit_bundle"
BUNDLES_DIR = "bundles"
# A build whose heartbeat stopped this long ago belongs to a process that died.
STALE_BUILD_AFTER = timedelta(minutes=10)
FACT_PATTERN_LANGUAGES: tuple[Language, ...] = ("zh", "en")
_CODE_LETTERS = 4
_LOAD_CHUNK = 1000
# Keys under `exhibit.bundle.` in the locale catalogues that the bundle's files use.
TEXT_KEYS = (
    "readme",
    "signatory.member_code",
    "signatory.role",
    "signatory.joined_at",
    "signatory.report",
    "signatory.exhibits",
    "stats.code",
    "stats.category",
    "stats.reports",
    "stats.share_percent",
    "stats.month",
    "stats.measure",
    "stats.value_percent",
    "stats.apr_known",
    "stats.apr_q1",
    "stats.apr_median",
    "stats.apr_q3",
    "stats.cap",
    "stats.above",
    "stats.known",
    "stats.member",
    "stats.region",
    "stats.amount_band",
    "stats.net_band",
    "stats.apr_percent",
    "stats.caps_exceeded",
    "stats.categories",
    "stats.evidence_files",
    "chart.reports",
    "chart.no_data",
    "chart.months_title",
    "chart.share_percent",
    "chart.categories_title",
    "chart.apr_percent",
    "chart.apr_title",
    "narrative.month",
    "narrative.categories",
    "narrative.update",
    "placeholder.audio.title",
    "placeholder.audio.body",
    "placeholder.unreadable.title",
    "placeholder.unreadable.body",
    "catalogue.number",
    "catalogue.name",
    "catalogue.type",
    "catalogue.source",
    "catalogue.proves",
    "catalogue.pages",
    "catalogue.page_count",
    "catalogue.original_or_copy",
    "catalogue.obtained",
    "catalogue.sha256_original",
    "catalogue.redaction",
    "catalogue.file",
    "catalogue.sha256_file",
    "catalogue.remarks",
    "catalogue.remark_native",
    "catalogue.name_audio",
    "catalogue.name_pdf",
    "catalogue.name_image",
    "catalogue.type_audio",
    "catalogue.type_pdf",
    "catalogue.type_image",
    "catalogue.copy",
    "catalogue.gap_name",
    "catalogue.gap_withdrawn",
    "catalogue.gap_unshared",
    "custody.event",
    "custody.occurred_at",
    "custody.sha256",
    "capture.upload",
    "capture.screenshot",
    "capture.photo",
    "capture.recording",
    "capture.scan",
    "capture.export",
    "redaction.metadata_removed",
    "redaction.original_only",
    "role.member",
    "role.proposed_representative",
)


def _record(
    session: Session,
    now: datetime,
    actor: StaffUser,
    action: str,
    bundle: ExhibitBundle,
    **details: Any,
) -> None:
    audit_service.record_event(
        session,
        occurred_at=now,
        actor=staff_service.staff_actor(actor),
        action=action,
        subject_type=SUBJECT_TYPE,
        subject_id=str(bundle.id),
        details={"campaign_id": bundle.campaign_id, **details},
    )


# Access


def lawyer_campaign(session: Session, campaign_id: int, *, lawyer: StaffUser) -> Campaign:
    """The campaign, if `lawyer` is assigned to it; NotFound otherwise, as for campaigns."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=lawyer)
    if session.get(CampaignLawyer, (campaign.id, lawyer.id)) is None:
        raise NotFound("campaign.error.not_found")
    return campaign


def approved_fact_patterns(session: Session, campaign: Campaign) -> list[FactPatternVersion]:
    """The latest approved version in each language, zh first."""
    versions = []
    for language in FACT_PATTERN_LANGUAGES:
        version = session.scalar(
            select(FactPatternVersion)
            .where(
                FactPatternVersion.campaign_id == campaign.id,
                FactPatternVersion.language == language,
                FactPatternVersion.approved_at.is_not(None),
            )
            .order_by(FactPatternVersion.number.desc())
            .limit(1)
        )
        if version is not None:
            versions.append(version)
    return versions


def list_bundles(session: Session, campaign: Campaign) -> list[ExhibitBundle]:
    return list(
        session.scalars(
            select(ExhibitBundle)
            .where(ExhibitBundle.campaign_id == campaign.id)
            .order_by(ExhibitBundle.id.desc())
        )
    )


def get_bundle(session: Session, campaign: Campaign, bundle_id: int) -> ExhibitBundle:
    bundle = session.get(ExhibitBundle, bundle_id)
    if bundle is None or bundle.campaign_id != campaign.id:
        raise NotFound("exhibit.error.not_found")
    return bundle


def _active_bundle(session: Session, campaign_id: int) -> ExhibitBundle | None:
    return session.scalar(
        select(ExhibitBundle).where(
            ExhibitBundle.campaign_id == campaign_id, ExhibitBundle.status.in_(ACTIVE_STATUSES)
        )
    )


# The build's life


def fail_stale_builds(session: Session, now: datetime) -> int:
    stale = session.scalars(
        select(ExhibitBundle).where(
            ExhibitBundle.status == BundleStatus.running,
            ExhibitBundle.heartbeat_at < now - STALE_BUILD_AFTER,
        )
    ).all()
    for bundle in stale:
        fail_build(bundle, "abandoned: its process stopped reporting progress", now=now)
    session.flush()
    return len(stale)


def request_bundle(
    session: Session, campaign: Campaign, *, lawyer: StaffUser, now: datetime
) -> tuple[ExhibitBundle, bool]:
    """A queued build, and True; or the build already under way for the campaign, and False.

    Conflict when no fact pattern is approved: a bundle carries only text a lawyer signed off.
    """
    fail_stale_builds(session, now)
    active = _active_bundle(session, campaign.id)
    if active is not None:
        return active, False
    if not approved_fact_patterns(session, campaign):
        raise Conflict("exhibit.error.no_approved_fact_pattern")
    bundle = ExhibitBundle(
        campaign_id=campaign.id,
        requested_by_id=lawyer.id,
        status=BundleStatus.queued,
        progress=0.0,
        progress_note="queued",
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(bundle)
            session.flush()
    except IntegrityError:
        # Another request queued one a moment earlier; that build serves this request too.
        active = _active_bundle(session, campaign.id)
        if active is None:
            raise
        return active, False
    _record(session, now, lawyer, "exhibit.bundle_requested", bundle)
    return bundle, True


def claim_build(session: Session, bundle: ExhibitBundle, now: datetime) -> None:
    if bundle.status != BundleStatus.queued:
        raise Conflict("exhibit.error.not_queued")
    bundle.status = BundleStatus.running
    bundle.started_at = now
    bundle.heartbeat_at = now
    bundle.progress_note = "started"
    session.flush()


def record_progress(bundle: ExhibitBundle, progress: float, note: str, *, now: datetime) -> None:
    bundle.progress = round(min(max(progress, 0.0), 1.0), 4)
    bundle.progress_note = note[:120]
    bundle.heartbeat_at = now


def finish_build(
    session: Session,
    bundle: ExhibitBundle,
    *,
    file_path: str,
    sha256: str,
    size_bytes: int,
    inputs_fingerprint: str,
    consent_fingerprint: str,
    now: datetime,
) -> None:
    bundle.status = BundleStatus.succeeded
    bundle.file_path = file_path
    bundle.sha256 = sha256
    bundle.size_bytes = size_bytes
    bundle.inputs_fingerprint = inputs_fingerprint
    bundle.consent_fingerprint = consent_fingerprint
    bundle.progress = 1.0
    bundle.progress_note = "done"
    bundle.finished_at = now
    requester = session.get(StaffUser, bundle.requested_by_id)
    assert requester is not None
    _record(
        session,
        now,
        requester,
        "exhibit.bundle_built",
        bundle,
        sha256=sha256,
        size_bytes=size_bytes,
        inputs_fingerprint=inputs_fingerprint,
        consent_fingerprint=consent_fingerprint,
    )


def fail_build(bundle: ExhibitBundle, error: str, *, now: datetime) -> None:
    bundle.status = BundleStatus.failed
    bundle.error = error[:2000]
    bundle.finished_at = now


def bundle_file_name(campaign_id: int, bundle_id: int) -> str:
    return f"{BUNDLES_DIR}/campaign-{campaign_id}/bundle-{bundle_id}.zip"


def fact_pattern_cache_dir(data_dir: Path, campaign_id: int) -> Path:
    return data_dir / BUNDLES_DIR / f"campaign-{campaign_id}" / "fact-patterns"


def exhibit_cache_dir(data_dir: Path, campaign_id: int) -> Path:
    return data_dir / BUNDLES_DIR / f"campaign-{campaign_id}" / "exhibits"


def bundle_path(data_dir: Path, bundle: ExhibitBundle) -> Path:
    if bundle.status == BundleStatus.purged:
        raise NotFound("exhibit.error.purged")
    if bundle.status != BundleStatus.succeeded or not bundle.file_path:
        raise Conflict("exhibit.error.not_ready")
    path = data_dir / bundle.file_path
    if not path.is_file():
        raise NotFound("exhibit.error.file_gone")
    return path


def record_download(
    session: Session, bundle: ExhibitBundle, *, lawyer: StaffUser, now: datetime
) -> None:
    _record(session, now, lawyer, "exhibit.bundle_downloaded", bundle, sha256=bundle.sha256)


def purge_expired_bundles(
    session: Session, data_dir: Path, now: datetime, *, retention_days: int
) -> int:
    """Delete the bundle files and exhibit caches of campaigns closed more than `retention_days`
    ago. They hold signatories' identities and evidence, which the retention rule removes with
    the identity store; the bundle rows keep their hashes as the record of what was built.
    Returns how many bundle files were deleted."""
    expired = set(
        session.scalars(campaign_service.closed_before(now - timedelta(days=retention_days)))
    )
    bundles = session.scalars(
        select(ExhibitBundle)
        .where(
            ExhibitBundle.campaign_id.in_(expired),
            ExhibitBundle.status == BundleStatus.succeeded,
        )
        .order_by(ExhibitBundle.id)
    ).all()
    for bundle in bundles:
        if bundle.file_path:
            (data_dir / bundle.file_path).unlink(missing_ok=True)
        bundle.status = BundleStatus.purged
        bundle.file_path = None
        audit_service.record_event(
            session,
            occurred_at=now,
            actor="system",
            action="exhibit.bundle_purged",
            subject_type=SUBJECT_TYPE,
            subject_id=str(bundle.id),
            details={"campaign_id": bundle.campaign_id, "retention_days": retention_days},
        )
    for campaign_id in sorted(expired):
        shutil.rmtree(data_dir / BUNDLES_DIR / f"campaign-{campaign_id}", ignore_errors=True)
    session.flush()
    return len(bundles)


# Bates numbers


def campaign_code(campaign: Campaign) -> str:
    """Letters of the slug and the id: short enough to stamp, unique across campaigns."""
    letters = re.sub(r"[^A-Za-z0-9]", "", campaign.slug).upper()[:_CODE_LETTERS]
    return f"{letters or 'GS'}{campaign.id}"


def assign_bates(
    session: Session,
    campaign: Campaign,
    wanted: Iterable[tuple[str, str, Callable[[], int]]],
    *,
    now: datetime,
) -> tuple[str, dict[str, BatesAssignment], list[BatesAssignment]]:
    """Bates pages for each (evidence id, member code, page counter), in the order given.

    Evidence numbered before keeps its numbers; new evidence continues after the highest
    number ever given in the campaign. Returns the campaign's stamp prefix, the assignments for
    the wanted evidence, and the earlier assignments not wanted now (the gaps)."""
    existing = {
        row.evidence_id: row
        for row in session.scalars(
            select(BatesAssignment).where(BatesAssignment.campaign_id == campaign.id)
        )
    }
    code = next(iter(existing.values())).campaign_code if existing else campaign_code(campaign)
    next_page = 1 + max(
        (row.first_page + row.page_count - 1 for row in existing.values()), default=0
    )
    chosen: dict[str, BatesAssignment] = {}
    for evidence_id, member, count_pages in wanted:
        row = existing.get(evidence_id)
        if row is None:
            row = BatesAssignment(
                campaign_id=campaign.id,
                evidence_id=evidence_id,
                campaign_code=code,
                member_code=member,
                first_page=next_page,
                page_count=count_pages(),
                assigned_at=now,
            )
            session.add(row)
            next_page += row.page_count
        chosen[evidence_id] = row
    session.flush()
    gaps = sorted(
        (row for evidence_id, row in existing.items() if evidence_id not in chosen),
        key=lambda row: row.first_page,
    )
    return code, chosen, gaps


# Gathering a build's inputs


def bundle_language(campaign: Campaign) -> Language:
    return "zh" if get_channel(campaign.channel).country == "CN" else "en"


def bundle_texts(language: Language) -> dict[str, str]:
    return {key: translate(language, f"exhibit.bundle.{key}") for key in TEXT_KEYS}


def _identity_label(language: Language, field: str) -> str:
    key = f"signatory.field.{field}"
    return catalogue(language).get(key) or catalogue("en").get(key) or field


def _minute(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _LOAD_CHUNK):
        yield items[start : start + _LOAD_CHUNK]


def _narratives(
    session: Session, pseudonyms: dict[str, str], labels: dict[str, str]
) -> list[render.Narrative]:
    report_ids = sorted(pseudonyms)
    updates: dict[str, list[tuple[str, str]]] = {}
    narratives = []
    for chunk in _chunks(report_ids):
        for update in session.scalars(
            select(ReportUpdate)
            .where(ReportUpdate.report_id.in_(chunk))
            .order_by(ReportUpdate.report_id, ReportUpdate.id)
        ):
            updates.setdefault(update.report_id, []).append(
                (update.submitted_at.date().isoformat(), update.body)
            )
        rows = session.execute(
            select(
                Report.id,
                Report.title,
                Report.first_incident_month,
                Report.categories,
                Report.narrative,
            ).where(Report.id.in_(chunk))
        )
        for report_id, title, month, codes, body in rows:
            narratives.append(
                render.Narrative(
                    member_id=pseudonyms[report_id],
                    title=title,
                    first_incident_month=month,
                    categories=tuple(labels.get(code, code) for code in dict.fromkeys(codes or ())),
                    body=body,
                    updates=tuple(updates.get(report_id, ())),
                )
            )
    return sorted(narratives, key=lambda item: item.member_id)


def _fact_pattern_files(
    campaign: Campaign, version: FactPatternVersion, cache_dir: Path
) -> tuple[render.BundleFile, ...]:
    """The version as DOCX and PDF, rendered once and then read from `cache_dir`: a version's
    text never changes, and laying out a member table of thousands of rows takes minutes."""
    key = hashlib.sha256(
        json.dumps(
            [
                campaign.title,
                campaign.slug,
                campaign_service.group_reference(campaign),
                version.id,
                version.number,
                version.language,
                version.body_sha256,
                version.created_at.isoformat(),
                _renderer_fingerprint(),
            ]
        ).encode()
    ).hexdigest()[:32]
    files = []
    for document_format in ("docx", "pdf"):
        cached = cache_dir / f"{key}.{document_format}"
        name = cache_dir / f"{key}.{document_format}.name"
        if not (cached.is_file() and name.is_file()):
            document = campaign_service.render_version(campaign, version, document_format)
            cache_dir.mkdir(parents=True, exist_ok=True)
            for path, content in ((cached, document.content), (name, document.filename.encode())):
                partial = path.with_name(path.name + ".part")
                partial.write_bytes(content)
                partial.replace(path)
        files.append(
            render.BundleFile(
                f"01_fact_pattern/{name.read_text(encoding='utf-8')}", cached.read_bytes()
            )
        )
    return tuple(files)


@lru_cache(maxsize=1)
def _renderer_fingerprint() -> str:
    """Changes when the fact pattern renderer does, so a cached rendering is never stale."""
    return hashlib.sha256(Path(documents.__file__).read_bytes()).hexdigest()


def _member_number(member_code: str, fallback: int) -> int:
    digits = re.sub(r"\D", "", member_code)
    return int(digits) if digits else fallback


def gather_inputs(
    session: Session,
    bundle: ExhibitBundle,
    *,
    evidence_dir: Path,
    cache_dir: Path,
    key_ring: KeyRing,
    now: datetime,
) -> render.BundleSpec:
    """Everything the bundle is made from, read in one transaction so it is one moment's view.

    Reads the signatories as the requesting lawyer (audited by api.signatories) and gives new
    shared evidence its Bates numbers."""
    campaign = session.get(Campaign, bundle.campaign_id)
    lawyer = session.get(StaffUser, bundle.requested_by_id)
    if campaign is None or lawyer is None:
        raise NotFound("exhibit.error.not_found")
    language = bundle_language(campaign)
    texts = bundle_texts(language)
    rules = get_channel(campaign.channel)

    versions = approved_fact_patterns(session, campaign)
    if not versions:
        raise Conflict("exhibit.error.no_approved_fact_pattern")
    fact_patterns = []
    for version in versions:
        assert version.approved_at is not None
        fact_patterns.append(
            render.FactPatternDocument(
                version_id=version.id,
                language=version.language,
                number=version.number,
                body_sha256=version.body_sha256,
                approved_at=version.approved_at.isoformat(),
                files=_fact_pattern_files(campaign, version, cache_dir),
            )
        )

    signatories = signatory_service.consenting_signatories(
        session,
        campaign_id=campaign.id,
        viewer=lawyer,
        purpose=signatory_service.EXPORT,
        key_ring=key_ring,
    )
    consent_fingerprint = signatory_service.consent_fingerprint(session, campaign_id=campaign.id)

    frame = campaign_service.member_frame(session, campaign)
    statistics = facts.fact_statistics(frame)
    pseudonyms = facts.member_ids(frame["report_id"].tolist())
    codes = {code for member in statistics.members for code in member.categories}
    shared_ids = [evidence_id for record in signatories for evidence_id in record.evidence_ids]
    owners = {record.report_id for record in signatories}
    report_categories: dict[str, list[str]] = {}
    for chunk in _chunks(sorted(owners)):
        for report_id, categories in session.execute(
            select(Report.id, Report.categories).where(Report.id.in_(chunk))
        ):
            report_categories[report_id] = list(categories or ())
            codes.update(categories or ())
    labels = {code: translate(language, f"category.{code}") for code in sorted(codes)}

    files_by_id: dict[str, EvidenceFile] = {}
    custody: dict[str, list[render.CustodyRow]] = {}
    for chunk in _chunks(sorted(set(shared_ids))):
        for evidence in session.scalars(select(EvidenceFile).where(EvidenceFile.id.in_(chunk))):
            files_by_id[evidence.id] = evidence
        for event in session.scalars(
            select(EvidenceCustodyEvent)
            .where(EvidenceCustodyEvent.evidence_id.in_(chunk))
            .order_by(EvidenceCustodyEvent.id)
        ):
            custody.setdefault(event.evidence_id, []).append(
                render.CustodyRow(
                    event.event, _minute(event.occurred_at), event.details.get("sha256")
                )
            )

    # (signatory, evidence) in member order, then the report's own file order.
    ordered: list[tuple[signatory_service.SignatoryRecord, EvidenceFile, Path]] = []
    for record in signatories:
        own = sorted(
            (
                files_by_id[evidence_id]
                for evidence_id in set(record.evidence_ids)
                if evidence_id in files_by_id
                and files_by_id[evidence_id].report_id == record.report_id
            ),
            key=lambda evidence: (evidence.sequence, evidence.id),
        )
        for evidence in own:
            folder, digest = (
                ("redacted", evidence.sha256_redacted)
                if evidence.sha256_redacted
                else ("original", evidence.sha256_original)
            )
            ordered.append((record, evidence, evidence_dir / folder / digest[:2] / digest))

    def counter(evidence: EvidenceFile, path: Path) -> Callable[[], int]:
        return lambda: render.count_pages(evidence.media_type, path)

    code, assignments, earlier = assign_bates(
        session,
        campaign,
        (
            (evidence.id, record.member_code, counter(evidence, path))
            for record, evidence, path in ordered
        ),
        now=now,
    )
    current_members = {record.member_code for record in signatories}
    gaps = tuple(
        render.BatesGap(
            member_code=row.member_code,
            first_page=row.first_page,
            page_count=row.page_count,
            reason="unshared" if row.member_code in current_members else "withdrawn",
        )
        for row in earlier
    )

    items: list[render.EvidenceItem] = []
    ranges: dict[str, list[str]] = {}
    position: dict[str, int] = {}
    for index, (record, evidence, path) in enumerate(ordered):
        row = assignments[evidence.id]
        position[record.member_code] = position.get(record.member_code, 0) + 1
        number = _member_number(record.member_code, index + 1)
        items.append(
            render.EvidenceItem(
                evidence_id=evidence.id,
                member_code=record.member_code,
                exhibit_number=f"{number}-{position[record.member_code]}",
                media_type=evidence.media_type,
                capture_method=evidence.capture_method,
                received_at=_minute(evidence.received_at),
                sha256_original=evidence.sha256_original,
                sha256_redacted=evidence.sha256_redacted,
                redaction_status=str(evidence.redaction_status),
                proves=tuple(labels.get(c, c) for c in report_categories.get(record.report_id, ())),
                first_page=row.first_page,
                page_count=row.page_count,
                source_path=path,
                custody=tuple(custody.get(evidence.id, ())),
            )
        )
        ranges.setdefault(record.member_code, []).append(
            render.bates_range(code, record.member_code, row.first_page, row.page_count)
        )

    signatory_rows = tuple(
        render.SignatoryRow(
            member_code=record.member_code,
            role=texts.get(f"role.{record.role}", record.role),
            joined_at=_minute(record.joined_at),
            report_member_id=pseudonyms.get(record.report_id, "—"),
            identity=dict(record.identity),
            bates_ranges=tuple(ranges.get(record.member_code, ())),
        )
        for record in signatories
    )
    run = cluster_service.latest_succeeded_run(session)
    bates_pages = sum(item.page_count for item in items)
    return render.BundleSpec(
        campaign=render.CampaignInfo(
            id=campaign.id,
            slug=campaign.slug,
            code=code,
            title=campaign.title,
            channel=campaign.channel,
            channel_name=rules.name(language),
            jurisdiction=campaign.jurisdiction,
            group_reference=campaign_service.group_reference(campaign),
            language=language,
        ),
        fact_patterns=tuple(fact_patterns),
        identity_fields=rules.identity_fields,
        identity_labels={
            field: _identity_label(language, field) for field in rules.identity_fields
        },
        signatories=signatory_rows,
        statistics=statistics,
        category_labels=labels,
        narratives=tuple(_narratives(session, pseudonyms, labels)),
        evidence=tuple(items),
        gaps=gaps,
        consent_fingerprint=consent_fingerprint,
        inputs={
            "clustering_run_id": run.id if run else None,
            "member_reports": len(pseudonyms),
            "signatories": len(signatories),
            "evidence_files": len(items),
            "bates_pages": bates_pages,
            "bates_gaps": [[gap.first_page, gap.page_count] for gap in gaps],
            "identity_fields": list(rules.identity_fields),
        },
        texts=texts,
    )
