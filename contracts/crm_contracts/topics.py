"""Topic names. One topic per producing service; Kafka key is always the customer id."""

PROFILE_CUSTOMERS = "crm.profile.customers"
TIERING_CUSTOMERS = "crm.tiering.customers"
ENGAGEMENT_TASKS = "crm.engagement.tasks"
COMPLAINTS_CASES = "crm.complaints.cases"
COREBANK_BALANCES = "corebank.balances"

ALL = (PROFILE_CUSTOMERS, TIERING_CUSTOMERS, ENGAGEMENT_TASKS, COMPLAINTS_CASES, COREBANK_BALANCES)


def dead_letter(topic: str) -> str:
    return f"{topic}.dlt"
