"""Bank CRM shared runtime kit."""
