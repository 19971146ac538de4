"""Pages without login: the NPS answer page (behind support's ``/surveys/<token>/``) and the
referral link ``/r/<code>/``."""

from django import forms
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from crm.services.signins import client_address
from leads.forms import WebToLeadForm
from leads.views.public import rate_limited
from retention.models import NpsSurvey
from retention.services import advocacy as advocacy_services
from retention.services import nps


class NpsForm(forms.Form):
    score = forms.TypedChoiceField(
        label="How likely are you to recommend us to a friend or colleague?",
        choices=[(i, str(i)) for i in range(11)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)


def nps_survey(request, key: str):
    """Registered with support's survey links as kind "nps": single use, 0–10 and a comment."""
    survey = NpsSurvey.objects.filter(key=key).select_related("contact").first()
    if survey is None:
        return render(
            request,
            "support/survey_message.html",
            {"title": "This survey link is not valid", "text": ""},
            status=400,
        )
    done = {"title": "Thank you!", "text": "Your answer has been recorded."}
    if survey.answered_at is not None:
        return render(request, "support/survey_message.html", done)
    status = 200
    if request.method == "POST":
        form = NpsForm(request.POST)
        if form.is_valid():
            nps.nps_answer(
                survey=survey,
                score=form.cleaned_data["score"],
                comment=form.cleaned_data["comment"],
            )
            return render(request, "support/survey_message.html", done)
        status = 400
    else:
        score = request.GET.get("score", "")
        form = NpsForm(
            initial={"score": int(score)} if score.isdigit() and int(score) <= 10 else None
        )
    return render(request, "retention/nps_survey.html", {"form": form}, status=status)


@csrf_exempt
def referral(request, code):
    """``/r/<code>/``: the web-to-lead form on the advocate's link; the lead it makes is
    attributed to them. Public, so: honeypot, leads' rate limit, CSRF-exempt like leads' form."""
    advocate = advocacy_services.advocate_for_code(code)
    if advocate is None:
        return render(request, "retention/referral_invalid.html", status=404)
    request.session["referral_code"] = code
    form = WebToLeadForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if rate_limited(request, f"referral-{code}"):
            return render(request, "retention/referral_invalid.html", status=429)
        if form.is_valid():
            if not form.cleaned_data["website_url"]:
                advocacy_services.referral_lead_capture(
                    advocate=advocate, data=form.cleaned_data, ip=client_address(request)
                )
            return render(request, "retention/referral_thanks.html", {"advocate": advocate})
        status = 400
    return render(
        request, "retention/referral_form.html", {"form": form, "advocate": advocate}, status=status
    )
