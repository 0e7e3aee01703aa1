"""JSON API for signatories: a lawyer reads the consenting signatories of an assigned campaign.

Like the campaign API, a campaign the lawyer is not assigned to answers 404, as if it did not
exist; organizers and admins are refused with 403 by the role requirement, since identities are
never theirs to see.
"""

from typing import Annotated

from fastapi import APIRouter, Depends

from api.campaigns import service as campaign_service
from api.campaigns.channels import get_channel
from api.config import SettingsDep
from api.db import SessionDep
from api.signatories import service as signatory_service
from api.signatories.schemas import SignatoryList, SignatoryRead
from api.staff.dependencies import require_roles
from api.staff.models import StaffRole, StaffUser

router = APIRouter(prefix="/api/v1/campaigns", tags=["signatories"])

Lawyer = Annotated[StaffUser, Depends(require_roles(StaffRole.lawyer))]

_ERRORS = {
    401: {"description": "Not logged in, or the session expired"},
    403: {"description": "Not a lawyer: identities are shown to assigned lawyers only"},
    404: {"description": "No such campaign, or one the lawyer is not assigned to"},
}


@router.get("/{campaign_id}/signatories", response_model=SignatoryList, responses=_ERRORS)
def list_signatories(
    campaign_id: int, session: SessionDep, settings: SettingsDep, lawyer: Lawyer
) -> SignatoryList:
    """Signatories whose consent to share with the lawyers stands, with their identity fields.
    Every call is written to the audit log (who, which campaign, how many; no identities)."""
    campaign = campaign_service.get_campaign(session, campaign_id, viewer=lawyer)
    records = signatory_service.consenting_signatories(
        session,
        campaign_id=campaign.id,
        viewer=lawyer,
        purpose=signatory_service.VIEW,
        key_ring=signatory_service.settings_key_ring(settings),
    )
    return SignatoryList(
        campaign_id=campaign.id,
        fields=signatory_service.collected_fields(get_channel(campaign.channel)),
        signatories=[
            SignatoryRead(
                member_code=record.member_code,
                role=record.role,
                joined_at=record.joined_at,
                identity=record.identity,
                evidence_ids=record.evidence_ids,
            )
            for record in records
        ],
    )
