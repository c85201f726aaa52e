"""Writes of the service desk: tickets (tickets.py), SLA clocks (sla.py), escalations
(escalations.py), assignment (assignment.py) and configuration (setup.py)."""
