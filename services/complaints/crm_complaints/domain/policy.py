"""The complaints policy: versioned data a bank edits (BRIEF §5). The regulator's clock (银行业保险业消费投诉处理
管理办法, 2020: a decision within 15 days of receipt, 30 for complex cases, a further 30 with senior approval)
and the bank's internal targets in working days, the category taxonomy, when compensation needs approval,
and how long a resolved case waits for the customer's confirmation."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_contracts.corebank import Money

WorkingDays = Annotated[int, Field(ge=0, le=30)]


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Targets(Rules):
    """Internal targets, in working days after the day of receipt (0: the same working day)."""

    acknowledge: WorkingDays = 1
    first_contact: WorkingDays = 2


class Regulator(Rules):
    """Calendar days after the day of receipt; time under external appraisal does not count."""

    # The regulation's 15/30/60 days are maxima: a bank may set shorter ones, never longer.
    decision_days: int = Field(default=15, ge=1, le=15)
    extended_days: int = Field(
        default=30, ge=1, le=30, description="complex cases, extended by the handler with a reason"
    )
    maximum_days: int = Field(
        default=60, ge=1, le=60, description="a further extension needs branch_manager or head_office"
    )
    # Off by default: the earlier, stricter date, which can never be late under any reading of the regulation. On,
    # a decision due on a public holiday is due on the next working day, as a period ends under the Civil Code
    # (民法典 art. 203); the bank's compliance officer decides (README: "Keeping the working-day calendar current").
    holiday_rolls_to_next_workday: bool = Field(
        default=False, description="a decision due on a public holiday is due on the next working day instead"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Regulator:
        if not self.decision_days <= self.extended_days <= self.maximum_days:
            raise ValueError("decision_days <= extended_days <= maximum_days")
        return self


class ComplaintsPolicy(Rules):
    categories: list[str] = Field(
        default_factory=lambda: [
            "service_attitude",
            "fees",
            "wealth_mis_selling",
            "cards",
            "loans",
            "deposits",
            "app",
            "queueing",
            "other",
        ],
        min_length=1,
        description="root-cause and intake taxonomy",
    )
    targets: Targets = Field(default_factory=Targets)
    priority_targets: Targets = Field(
        default_factory=lambda: Targets(acknowledge=0, first_contact=1),
        description="regulator-forwarded cases and key or vip customers",
    )
    priority_tiers: list[str] = Field(default_factory=lambda: ["key", "vip"])
    regulator: Regulator = Field(default_factory=Regulator)
    warn_days_before: int = Field(default=3, ge=0, le=30, description="deadline-approaching this many days before")
    compensation_approval_above: Annotated[Money, Field(ge=0)] = Field(
        default=Decimal("1000.00"), description="compensation above this needs branch_manager or head_office approval"
    )
    confirm_within_days: int = Field(
        default=7,
        ge=1,
        le=60,
        description="a resolved case closes when the customer has not answered in this many "
        "days after being told the decision (告知)",
    )
    repeat_window_days: int = Field(default=90, ge=1, le=366)
    unverified_customer_after_minutes: int = Field(
        default=10,
        ge=1,
        le=7 * 24 * 60,
        description="a case naming a customer complaints has not heard of this long is flagged customer_unverified "
        "and listed for manual routing",
    )


DEFAULT_POLICY = ComplaintsPolicy()
