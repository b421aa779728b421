from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from breederhq.api.views import problem_http_response
from payments_app.inbox import WebhookSignatureInvalid, stripe_event_receive


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe -> us. Verify, store, answer fast; a worker processes the event."""
    try:
        received = stripe_event_receive(payload=request.body, signature_header=request.headers.get("Stripe-Signature"))
    except WebhookSignatureInvalid as exc:
        return problem_http_response(exc.status, exc.code, exc.title, exc.detail)
    return JsonResponse(
        {"received": True, "event": received.stripe_event_id, "duplicate": received.duplicate},
        status=200,
    )
