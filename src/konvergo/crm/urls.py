"""CRM pages, in the "crm" namespace, under /crm/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.crm.views import contacts, deals, lists
from konvergo.crm.views.list_pages import LIST_PAGES

app_name = "crm"

SEGMENTS = {
    "organization": "organizations",
    "person": "persons",
    "deal": "deals",
    "activity": "activities",
}


def _list_urls() -> list[URLPattern]:
    patterns = []
    for page in LIST_PAGES:
        segment = SEGMENTS[page.key]
        patterns += [
            path(f"{segment}/", lists.list_page, {"page": page}, name=f"{page.key}_list"),
            path(
                f"{segment}/export.csv",
                lists.export,
                {"page": page, "fmt": "csv"},
                name=f"{page.key}_export_csv",
            ),
            path(
                f"{segment}/export.xlsx",
                lists.export,
                {"page": page, "fmt": "xlsx"},
                name=f"{page.key}_export_xlsx",
            ),
            path(f"{segment}/bulk/", lists.bulk, {"page": page}, name=f"{page.key}_bulk"),
        ]
    return patterns


def _client_urls() -> list[URLPattern]:
    patterns = []
    for client in contacts.CLIENT_TYPES.values():
        segment = SEGMENTS[client.key]
        kwargs = {"client": client}
        patterns += [
            path(f"{segment}/new/", contacts.client_edit, kwargs, name=f"{client.key}_add"),
            path(
                f"{segment}/duplicates/",
                contacts.duplicates_check,
                kwargs,
                name=f"{client.key}_duplicates",
            ),
            path(
                f"{segment}/<uuid:public_id>/",
                contacts.dossier,
                kwargs,
                name=f"{client.key}_detail",
            ),
            path(
                f"{segment}/<uuid:public_id>/edit/",
                contacts.client_edit,
                kwargs,
                name=f"{client.key}_edit",
            ),
            path(
                f"{segment}/<uuid:public_id>/timeline/",
                contacts.dossier_timeline,
                kwargs,
                name=f"{client.key}_timeline",
            ),
            path(
                f"{segment}/<uuid:public_id>/actions/<slug:action>/",
                contacts.dossier_action,
                kwargs,
                name=f"{client.key}_action",
            ),
            path(
                f"{segment}/<uuid:public_id>/transfer/",
                contacts.client_transfer,
                kwargs,
                name=f"{client.key}_transfer",
            ),
        ]
    return patterns


urlpatterns = [
    *_list_urls(),
    *_client_urls(),
    path("deals/new/", deals.deal_create, name="deal_add"),
    path("deals/board/", deals.board, name="board"),
    path("deals/board/<uuid:pipeline_id>/", deals.board, name="board_pipeline"),
    path("deals/<uuid:public_id>/", deals.deal_detail, name="deal_detail"),
    path("deals/<uuid:public_id>/move/", deals.deal_move, name="deal_move"),
    path("deals/<uuid:public_id>/won/", deals.deal_won, name="deal_won"),
    path("deals/<uuid:public_id>/lost/", deals.deal_lost, name="deal_lost"),
    path("activities/<uuid:public_id>/", deals.activity_detail, name="activity_detail"),
    path("activities/<uuid:public_id>/done/", deals.activity_done, name="activity_done"),
    path("views/", lists.saved_view_create, name="savedview_add"),
    path("views/<uuid:public_id>/delete/", lists.saved_view_remove, name="savedview_delete"),
    path("transfer/", contacts.bulk_transfer, name="bulk_transfer"),
    path("quick/contact/", contacts.quick_contact, name="quick_contact"),
    path("quick/call/", contacts.quick_call, name="quick_call"),
    path("names/<slug:kind>/", contacts.name_options, name="name_options"),
]


def _setup_urls() -> list[URLPattern]:
    """Campaigns and the administration of custom fields."""
    from konvergo.crm.views import campaigns, custom_fields

    campaign = "campaigns/<uuid:public_id>"
    return [
        path("campaigns/", campaigns.campaign_list, name="campaign_list"),
        path("campaigns/new/", campaigns.campaign_edit, name="campaign_add"),
        path(f"{campaign}/", campaigns.campaign_detail, name="campaign_detail"),
        path(f"{campaign}/edit/", campaigns.campaign_edit, name="campaign_edit"),
        path(f"{campaign}/delete/", campaigns.campaign_delete, name="campaign_delete"),
        path(f"{campaign}/fill/", campaigns.campaign_fill, name="campaign_fill"),
        path(
            f"{campaign}/export.csv",
            campaigns.campaign_export,
            {"fmt": "csv"},
            name="campaign_export_csv",
        ),
        path(
            f"{campaign}/export.xlsx",
            campaigns.campaign_export,
            {"fmt": "xlsx"},
            name="campaign_export_xlsx",
        ),
        path(
            f"{campaign}/members/<uuid:member_id>/status/",
            campaigns.member_status,
            name="campaign_member_status",
        ),
        path("custom-fields/", custom_fields.custom_field_list, name="customfield_list"),
        path("custom-fields/new/", custom_fields.custom_field_edit, name="customfield_add"),
        path(
            "custom-fields/<uuid:public_id>/edit/",
            custom_fields.custom_field_edit,
            name="customfield_edit",
        ),
        path(
            "custom-fields/<uuid:public_id>/delete/",
            custom_fields.custom_field_delete,
            name="customfield_delete",
        ),
    ]


urlpatterns += _setup_urls()
