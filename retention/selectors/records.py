"""One get/list pair per retention entity (see ``crm.selectors``): ``<entity>_list(*, user)``
the rows ``user`` may see (``for_change``: change, where the model has ``changeable_by``), and
``<entity>_get(*, user, pk)`` one of them with the joins its pages need, else ``Http404``."""

from django.db import models

from crm.selectors import record_get, scoped
from retention.models import (
    Advocate,
    ChurnEvent,
    HealthScore,
    NpsRun,
    NpsSurvey,
    Recommendation,
    Referral,
    Renewal,
    RiskEpisode,
    Subscription,
    TestimonialRequest,
)


def subscription_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Subscription, user=user, for_change=for_change)


def subscription_get(*, user, pk, for_change: bool = False, probes=None) -> Subscription:
    """``probes``: a record page's, read with the record (``record_get``)."""
    return record_get(
        subscription_list(user=user, for_change=for_change).select_related("account", "owner"),
        pk,
        name=("subscription_get", for_change),
        user=user,
        probes=probes,
    )


def renewal_list(*, user) -> models.QuerySet:
    return scoped(Renewal, user=user)


def renewal_get(*, user, pk) -> Renewal:
    return record_get(
        renewal_list(user=user).select_related("subscription", "subscription__account"), pk
    )


def health_score_list(*, user) -> models.QuerySet:
    return scoped(HealthScore, user=user)


def health_score_get(*, user, pk) -> HealthScore:
    """``pk`` is the account's: a score is one per account."""
    return record_get(health_score_list(user=user).select_related("account"), pk)


def risk_episode_list(*, user) -> models.QuerySet:
    return scoped(RiskEpisode, user=user)


def risk_episode_get(*, user, pk) -> RiskEpisode:
    return record_get(risk_episode_list(user=user).select_related("account", "account__owner"), pk)


def churn_event_list(*, user) -> models.QuerySet:
    return scoped(ChurnEvent, user=user)


def churn_event_get(*, user, pk) -> ChurnEvent:
    return record_get(churn_event_list(user=user).select_related("account"), pk)


def recommendation_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Recommendation, user=user, for_change=for_change)


def recommendation_get(*, user, pk, for_change: bool = False) -> Recommendation:
    return record_get(
        recommendation_list(user=user, for_change=for_change).select_related("account"), pk
    )


def nps_run_list(*, user) -> models.QuerySet:
    return scoped(NpsRun, user=user)


def nps_run_get(*, user, pk) -> NpsRun:
    return record_get(nps_run_list(user=user).select_related("segment", "created_by"), pk)


def nps_survey_list(*, user) -> models.QuerySet:
    return scoped(NpsSurvey, user=user)


def nps_survey_get(*, user, pk) -> NpsSurvey:
    return record_get(nps_survey_list(user=user).select_related("run", "contact", "account"), pk)


def advocate_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Advocate, user=user, for_change=for_change)


def advocate_get(*, user, pk, for_change: bool = False) -> Advocate:
    return record_get(
        advocate_list(user=user, for_change=for_change).select_related("contact", "account"), pk
    )


def referral_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(Referral, user=user, for_change=for_change)


def referral_get(*, user, pk, for_change: bool = False) -> Referral:
    return record_get(
        referral_list(user=user, for_change=for_change).select_related("advocate", "lead"), pk
    )


def testimonial_request_list(*, user, for_change: bool = False) -> models.QuerySet:
    return scoped(TestimonialRequest, user=user, for_change=for_change)


def testimonial_request_get(*, user, pk, for_change: bool = False) -> TestimonialRequest:
    return record_get(
        testimonial_request_list(user=user, for_change=for_change).select_related("advocate"), pk
    )
