"""The template gallery's samples: a commercial proposal (DOCX), a contract and an order
(HTML to PDF). Used by the demo and the tests; real companies upload their own in Word."""

from __future__ import annotations

import io

PROPOSAL_PARAGRAPHS = (
    "Commercial proposal {{ quote.number }}",
    "For {{ client.name }}, {{ client.address }}",
    "Deal: {{ deal.title }} ({{ deal.amount }} {{ deal.currency }})",
    "{%p for line in quote.lines %}",
    "{{ line.position }}. {{ line.description }}: {{ line.quantity }} x {{ line.unit_price }}"
    " = {{ line.net }}",
    "{%p endfor %}",
    "Total net {{ quote.net }}, tax {{ quote.tax }}, gross {{ quote.gross }} {{ quote.currency }}",
    "Valid until {{ quote.valid_until }}. Your contact: {{ deal.owner }}.",
)


def proposal_docx() -> bytes:
    import docx

    document = docx.Document()
    for paragraph in PROPOSAL_PARAGRAPHS:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


CONTRACT_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body { font-family: serif; font-size: 11pt; } h1 { font-size: 16pt; }
</style></head><body>
<h1>Service contract</h1>
<p>Between <strong>{{ client.name }}</strong> ({{ client.address }}) and us, dated {{ today }}.</p>
<p>Subject: {{ deal.title }}. Price: {{ deal.amount }} {{ deal.currency }}.</p>
<p>Contact person: {{ person.name }}</p>
</body></html>
"""

ORDER_HTML = """<!doctype html>
<html><head><meta charset="utf-8"></head><body>
<h1>Order confirmation {{ quote.number }}</h1>
<p>{{ client.name }}</p>
<table>{% for line in quote.lines %}
<tr><td>{{ line.description }}</td><td>{{ line.quantity }}</td><td>{{ line.net }}</td></tr>
{% endfor %}</table>
<p>Total: {{ quote.gross }} {{ quote.currency }}</p>
</body></html>
"""
