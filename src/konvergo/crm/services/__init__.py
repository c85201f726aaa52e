"""CRM writes, one module per area: contacts, duplicates, transfer, deals, activities, quotes,
custom_fields, campaigns. Each function is one transaction, keyword-only, takes the actor."""
