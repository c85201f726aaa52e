"""Writes of the integrations app, one module per channel: mail (out), inbound_mail (IMAP),
sms, telephony, webhooks (out), calendars, webforms; common.py holds what they share."""
