"""Public endpoints of sequence emails (no login): the open pixel and the click redirect,
answered as the email campaigns' are."""

from django.http import HttpResponse, HttpResponseRedirect

from leads.campaigns.views.tracking import bad_link, click_target, tracking_pixel
from leads.services import sequence_ab, sequences


def _read(token: str, salt: str) -> dict | None:
    return sequences.tracking_token_read(token, salt=salt, id_key="s")


def sequence_email_open(request, token):
    data = _read(token, sequences.SEQUENCE_OPEN_SALT)
    if data is None:
        return HttpResponse(status=404)
    sequence_ab.sequence_email_opened(email_id=data["s"])
    return tracking_pixel()


def sequence_email_click(request, token):
    data = _read(token, sequences.SEQUENCE_CLICK_SALT)
    url = click_target(data)
    if url is None:
        return bad_link(request)
    sequence_ab.sequence_email_clicked(email_id=data["s"])
    return HttpResponseRedirect(url)
