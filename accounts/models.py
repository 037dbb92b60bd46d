from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from leadbridge.calendar import REGION_CHOICES
from leadbridge.lookups import InvalidatingQuerySet


class Team(models.Model):
    """A sales team: follows up the leads routed to it, in its own business calendar."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    region = models.CharField(
        _("calendar region"),
        max_length=10,
        choices=REGION_CHOICES,
        default="DE",
        help_text=_("Public holidays of this region count as non-working days."),
    )
    opens_at = models.TimeField(_("office opens"), default="08:00")
    closes_at = models.TimeField(_("office closes"), default="17:00")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Updates invalidate the copies API intake keeps (leadbridge.lookups).
    objects = InvalidatingQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name

    def calendar(self):
        from leadbridge.calendar import BusinessCalendar

        return BusinessCalendar.for_region(self.region, self.opens_at, self.closes_at)


class RoutingRule(models.Model):
    """Sends new leads to a team by channel and/or postcode prefix; lowest priority wins."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="routing_rules")
    channel = models.CharField(_("channel"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    postcode_prefix = models.CharField(_("postcode prefix"), max_length=10, blank=True)
    priority = models.PositiveSmallIntegerField(_("priority"), default=100)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        parts = [p for p in (self.channel, self.country, self.postcode_prefix) if p] or ["*"]
        return f"{'/'.join(parts)} → {self.team}"

    def matches(self, *, channel: str, country: str, postcode: str) -> bool:
        return (
            (not self.channel or self.channel == channel)
            and (not self.country or self.country == country)
            and (not self.postcode_prefix or postcode.startswith(self.postcode_prefix))
        )


class Role(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    REP = "rep", _("Sales rep")
    MANAGER = "manager", _("Team lead / manager")
    ADMIN = "admin", _("Administrator")


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role, default=Role.REP)
    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
    )
    is_absent = models.BooleanField(
        _("absent"), default=False, help_text=_("Absent reps get no new leads.")
    )
    daily_capacity = models.PositiveSmallIntegerField(
        _("daily capacity"), default=25, help_text=_("New leads this rep can take per day.")
    )
    language = models.CharField(
        _("language"), max_length=5, choices=settings.LANGUAGES, default="de"
    )
    # Round-robin cursor for routing: the rep who waited longest gets the next lead.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    class Meta:
        ordering = ["username"]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_rep(self) -> bool:
        return self.role == Role.REP

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_marketing(self) -> bool:
        return self.role == Role.MARKETING

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    def landing_url_name(self) -> str:
        if self.is_marketing:
            return "campaigns:list"
        if self.is_rep:
            return "followups:queue"
        return "reporting:dashboard"
