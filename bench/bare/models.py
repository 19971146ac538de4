"""Unmanaged models over the product's tables: only the columns the reference pages show."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import models


class User(AbstractBaseUser):
    username = models.CharField(max_length=150, unique=True)
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150)
    email = models.CharField(max_length=254)
    is_active = models.BooleanField()

    USERNAME_FIELD = "username"

    class Meta:
        managed = False
        db_table = "crm_user"

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() or self.username


class Account(models.Model):
    name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253)
    industry = models.CharField(max_length=20)
    country = models.CharField(max_length=2)
    lifecycle_stage = models.CharField(max_length=10)
    owner = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "crm_account"

    def __str__(self):
        return self.name


class Contact(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.CharField(max_length=254)
    phone = models.CharField(max_length=20)
    title = models.CharField(max_length=150)
    account = models.ForeignKey(Account, models.DO_NOTHING, null=True, related_name="contacts")
    owner = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    quality = models.SmallIntegerField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "crm_contact"

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip()


class Activity(models.Model):
    kind = models.CharField(max_length=20)
    summary = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    object_id = models.BigIntegerField()
    content_type_id = models.IntegerField()
    subject_owner_id = models.BigIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "crm_activity"

    def __str__(self):
        return self.summary


class Task(models.Model):
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField(null=True)
    done_at = models.DateTimeField(null=True)
    assignee = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    content_type_id = models.IntegerField(null=True)
    object_id = models.BigIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "crm_task"

    def __str__(self):
        return self.title


class Campaign(models.Model):
    name = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "leads_campaign"

    def __str__(self):
        return self.name


class Lead(models.Model):
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    company_name = models.CharField(max_length=200)
    status = models.CharField(max_length=20)
    source = models.CharField(max_length=20)
    score = models.SmallIntegerField()
    grade = models.CharField(max_length=1)
    quality = models.SmallIntegerField(null=True)
    campaign = models.ForeignKey(Campaign, models.DO_NOTHING, null=True, related_name="+")
    owner = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "leads_lead"

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip()


class Pipeline(models.Model):
    name = models.CharField(max_length=100)
    order = models.SmallIntegerField()
    is_default = models.BooleanField()
    is_active = models.BooleanField()

    class Meta:
        managed = False
        db_table = "sales_pipeline"

    def __str__(self):
        return self.name


class Stage(models.Model):
    name = models.CharField(max_length=100)
    order = models.SmallIntegerField()
    kind = models.CharField(max_length=10)
    pipeline = models.ForeignKey(Pipeline, models.DO_NOTHING, related_name="+")

    class Meta:
        managed = False
        db_table = "sales_stage"

    def __str__(self):
        return self.name


class Opportunity(models.Model):
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    probability = models.SmallIntegerField()
    expected_close_date = models.DateField(null=True)
    account = models.ForeignKey(Account, models.DO_NOTHING, related_name="+")
    owner = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    stage = models.ForeignKey(Stage, models.DO_NOTHING, related_name="+")
    pipeline = models.ForeignKey(Pipeline, models.DO_NOTHING, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "sales_opportunity"

    def __str__(self):
        return self.name


class Queue(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        managed = False
        db_table = "support_queue"

    def __str__(self):
        return self.name


class Ticket(models.Model):
    reference = models.CharField(max_length=20)
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=20)
    priority = models.CharField(max_length=10)
    queue = models.ForeignKey(Queue, models.DO_NOTHING, null=True, related_name="+")
    assignee = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")
    sla_due_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "support_ticket"

    def __str__(self):
        return self.reference


class Meeting(models.Model):
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10)
    organizer = models.ForeignKey(User, models.DO_NOTHING, related_name="+")
    content_type_id = models.IntegerField(null=True)
    object_id = models.BigIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "crm_meeting"

    def __str__(self):
        return self.title


class MeetingAttendee(models.Model):
    meeting = models.ForeignKey(Meeting, models.DO_NOTHING, related_name="+")
    user = models.ForeignKey(User, models.DO_NOTHING, null=True, related_name="+")

    class Meta:
        managed = False
        db_table = "crm_meetingattendee"

    def __str__(self):
        return str(self.pk)


class OnboardingPlan(models.Model):
    class Meta:
        managed = False
        db_table = "sales_onboardingplan"

    def __str__(self):
        return f"Onboarding plan {self.pk}"
