"""`GET .../inverters/{inverter_id}/inference`: a solarfleet addition beside the contract's inverter fields."""

from __future__ import annotations

from fastapi import APIRouter

from solarfleet.api.dependencies import DbSession, IncludeDeleted, ScopedOrg
from solarfleet.api.errors import COMMON_ERROR_RESPONSES
from solarfleet.inference.schemas import InferenceOut
from solarfleet.inverters.api import InverterId, UserId
from solarfleet.inverters.service import owned_inverter

router = APIRouter(prefix="/org/{org_id}/users/{user_id}", responses=COMMON_ERROR_RESPONSES)


@router.get(
    "/inverters/{inverter_id}/inference",
    tags=["Solar inverters"],
    summary="What solarfleet learnt from a solar inverter's history, with the evidence",
    description="A solarfleet addition: the inverter's `inferred_*` and EV fields, each with the evidence behind it "
    "(how many plateaus, days, segments or bouts, and their spread). Inference runs daily over the last 30 days of "
    "readings; planning uses the inferred battery parameters wherever the partner left one unset.",
)
def inverter_inference(
    org_id: ScopedOrg,
    user_id: UserId,
    inverter_id: InverterId,
    session: DbSession,
    include_deleted: IncludeDeleted = False,
) -> InferenceOut:
    inverter = owned_inverter(session, org_id, user_id, inverter_id, include_deleted)
    evidence = inverter.inference_evidence or {}
    return InferenceOut(
        inverter_id=inverter.id,
        inferred_params_updated_at=inverter.inferred_params_updated_at,
        ev_inferred_at=inverter.ev_inferred_at,
        has_ev_in_household=inverter.has_ev_in_household,
        ev_inference_confidence=inverter.ev_inference_confidence,
        battery=evidence.get("battery") or None,
        ev=evidence.get("ev"),
    )
