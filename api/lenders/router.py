from typing import Annotated

from fastapi import APIRouter, Query

from api.db import SessionDep
from api.lenders import service as lender_service
from api.lenders.schemas import LenderMatch

router = APIRouter(prefix="/api/v1/lenders", tags=["lenders"])


@router.get("", response_model=list[LenderMatch])
def search_lenders(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=60)],
    limit: Annotated[int, Query(ge=1, le=25)] = 10,
) -> list[LenderMatch]:
    """Autocomplete for the report form: lenders whose names or app brands contain `q`."""
    return [
        LenderMatch(
            key=lender.key,
            name_zh=lender.name_zh,
            name_en=lender.name_en,
            kind=lender.kind,
            matched_alias=alias,
        )
        for lender, alias in lender_service.search_lenders(session, q, limit)
    ]
