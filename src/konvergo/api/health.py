from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from konvergo.core.selectors import database_ok, worker_state


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: 200 while the database answers, 503 when it does not."""
    if not database_ok():
        return JsonResponse({"database": "error", "worker": "unknown"}, status=503)
    return JsonResponse({"database": "ok", "worker": worker_state()})
