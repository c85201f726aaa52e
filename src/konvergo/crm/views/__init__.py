"""CRM pages: lists (lists.py, list_pages.py), organisations and persons with their dossier
(contacts.py), deals and the board (deals.py). Each view checks the permission, reads through
`visible()` and writes through a service."""
