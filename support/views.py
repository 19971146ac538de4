import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from support.models import Attachment, Ticket
from support.services import inbound


@login_required
def ticket_detail(request, pk):
    ticket = get_object_or_404(Ticket.objects.visible_to(request.user), pk=pk)
    return HttpResponse(str(ticket))


@login_required
def attachment_download(request, pk):
    attachment = get_object_or_404(
        Attachment.objects.filter(ticket__in=Ticket.objects.visible_to(request.user)), pk=pk
    )
    return HttpResponse(attachment.filename)


@csrf_exempt
@require_POST
def inbound_email_webhook(request):
    """A raw RFC 822 message (the request body) from the mail provider; authenticated by the
    shared token in ``X-Support-Token`` or ``Authorization: Bearer``."""
    expected = getattr(settings, "SUPPORT_INBOUND_TOKEN", "")
    given = request.headers.get("X-Support-Token", "")
    auth = request.headers.get("Authorization", "")
    if not given and auth.startswith("Bearer "):
        given = auth.removeprefix("Bearer ").strip()
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return JsonResponse({"error": "Not authorised."}, status=403)
    try:
        result = inbound.inbound_email_process(raw=request.body)
    except inbound.InboundError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "ticket": result.ticket.reference,
            "created": result.created,
            "duplicate": result.duplicate,
            "rejected_attachments": list(result.rejected_files),
        },
        status=201 if result.created else 200,
    )
