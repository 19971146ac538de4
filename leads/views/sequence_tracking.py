"""Public endpoints of sequence emails (no login): the open pixel and the click redirect."""

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from leads.services import sequence_ab, sequences
from leads.views.email_tracking import PIXEL


def sequence_email_open(request, token):
    data = sequences.sequence_token_read(token, salt=sequences.SEQUENCE_OPEN_SALT)
    if data is None:
        return HttpResponse(status=404)
    sequence_ab.sequence_email_opened(email_id=data["s"])
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


def sequence_email_click(request, token):
    data = sequences.sequence_token_read(token, salt=sequences.SEQUENCE_CLICK_SALT)
    url = data.get("u") if data else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return render(request, "leads/public/bad_link.html", status=400)
    sequence_ab.sequence_email_clicked(email_id=data["s"])
    return HttpResponseRedirect(url)
