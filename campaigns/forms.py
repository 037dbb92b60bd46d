import re
import secrets

from django import forms
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, Team, User
from followups.forms import DateTimeLocalInput, IdField, QueryFilterForm
from followups.models import SlaPolicy
from leads.import_files import TARGETS
from leads.models import (
    RECEIVED_FLOOR,
    ImportJob,
    LawfulBasis,
    RejectReason,
    postal_address_complete,
    received_at_problem,
)

from .models import (
    DEFAULT_CONSENT_TEXT,
    MARKETING_CONSENT_TEXT,
    Campaign,
    Channel,
    InfoMaterial,
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name",
            "channel",
            "owner",
            "starts_on",
            "ends_on",
            "budget",
            "expected_responses",
            "materials",
            "hypothesis",
            "team",
            "consent_text",
            "consent_text_en",
        ]
        widgets = {
            "starts_on": DateInput(),
            "ends_on": DateInput(),
            "materials": forms.CheckboxSelectMultiple(),
            "hypothesis": forms.Textarea(attrs={"rows": 3}),
            "consent_text": forms.Textarea(attrs={"rows": 2}),
            "consent_text_en": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"team": _("Follow-up team (proposed)")}
        help_texts = {
            "expected_responses": _(
                "How many enquiries you expect; sales checks them against its capacity."
            ),
            "hypothesis": _("What should this campaign achieve, and how will you know?"),
            "team": _("The team lead of this team signs off the follow-up plan."),
        }

    def __init__(self, *args, user=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(
            role__in=[Role.MARKETING, Role.ADMIN], is_active=True
        )
        self.fields["owner"].required = False
        self.fields["team"].queryset = Team.objects.all()
        self.fields["materials"].queryset = InfoMaterial.objects.all()
        if user is not None and not self.instance.pk:
            self.fields["owner"].initial = user.pk
        # What an empty text shows on each form: the standard text in that language.
        for name, language in (("consent_text", "de"), ("consent_text_en", "en")):
            with translation.override(language):
                self.fields[name].widget.attrs["placeholder"] = str(DEFAULT_CONSENT_TEXT)

    def clean(self):
        data = super().clean()
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The campaign cannot end before it starts."))
        budget = data.get("budget")
        if budget is not None and budget < 0:
            self.add_error("budget", _("The budget cannot be negative."))
        return data

    def service_fields(self, user) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name != "materials"}
        data["owner"] = data["owner"] or user
        return data


class NurtureFilterForm(QueryFilterForm):
    campaign = IdField(_("Campaign"))
    reason = forms.ChoiceField(label=_("Reason"), choices=RejectReason.choices, required=False)


class CampaignFilterForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("All channels")), *Channel.choices], required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("All states")), *Campaign.Status.choices], required=False
    )
    start = forms.DateField(label=_("From"), required=False, widget=DateInput())
    end = forms.DateField(label=_("To"), required=False, widget=DateInput())
    owner = forms.ModelChoiceField(
        label=_("Owner"), queryset=User.objects.none(), required=False, empty_label=_("All owners")
    )
    signoff = forms.ChoiceField(
        label=_("Sign-off"),
        choices=[
            ("", _("Any")),
            ("pending", _("Waiting for sign-off")),
            ("signed", _("Signed off")),
        ],
        required=False,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            User.objects.filter(campaigns__isnull=False).distinct().order_by("username")
        )

    def filter(self, campaigns):
        if not self.is_valid():
            return campaigns
        data = self.cleaned_data
        if data["channel"]:
            campaigns = campaigns.filter(channel=data["channel"])
        if data["status"]:
            campaigns = campaigns.filter(status=data["status"])
        if data["owner"]:
            campaigns = campaigns.filter(owner=data["owner"])
        # The period: campaigns running at any time between from and to.
        if data["start"]:
            campaigns = campaigns.exclude(ends_on__lt=data["start"])
        if data["end"]:
            campaigns = campaigns.filter(starts_on__lte=data["end"])
        if data["signoff"] == "pending":
            campaigns = campaigns.filter(signed_off_at__isnull=True, status=Campaign.Status.PLANNED)
        elif data["signoff"] == "signed":
            campaigns = campaigns.filter(signed_off_at__isnull=False)
        return campaigns


class SignOffForm(forms.Form):
    team = forms.ModelChoiceField(label=_("Team that follows up"), queryset=Team.objects.all())
    sla_policy = forms.ModelChoiceField(
        label=_("SLA policy"),
        queryset=SlaPolicy.objects.all(),
        required=False,
        empty_label=_("The channel's policy"),
    )
    warning_seen = forms.BooleanField(
        label=_("I have seen the capacity warning and sign off anyway."), required=False
    )

    def __init__(self, *args, user=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if user is not None and not user.is_admin_role:
            self.fields["team"].queryset = Team.objects.filter(pk=user.team_id)


class SignOffReturnForm(forms.Form):
    comment = forms.CharField(
        label=_("What should marketing change?"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Say what marketing should change.")},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ActivateForm(forms.Form):
    override_reason = forms.CharField(
        label=_("Reason for activating without sign-off"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# --- intake -------------------------------------------------------------------------

COUNTRY_CHOICES = [
    ("DE", _("Germany")),
    ("AT", _("Austria")),
    ("CH", _("Switzerland")),
    ("", _("Other country")),
]
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,40}$")


def material_choice_label(material: InfoMaterial) -> str:
    """“Price list – by post”: the title and how it comes, without the kind's own brackets."""
    how = _("by post") if material.is_printed else _("by email")
    return f"{material.title} – {how}"


def _postal(data: dict) -> bool:
    return postal_address_complete(
        street=data.get("street") or "",
        postcode=data.get("postcode") or "",
        city=data.get("city") or "",
    )


class PublicLeadForm(forms.Form):
    """The public enquiry form of a campaign (no login)."""

    contact_name = forms.CharField(label=_("Your name"), max_length=200)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    street = forms.CharField(label=_("Street and number"), max_length=200, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=10, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.ChoiceField(
        label=_("Country"), choices=COUNTRY_CHOICES, required=False, initial="DE"
    )
    message = forms.CharField(
        label=_("Your message"),
        max_length=5000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    # Nothing chosen in advance: a visitor who only wants a call leaves it alone, and
    # nobody is posted a brochure they did not pick.
    material = forms.ModelChoiceField(
        label=_("Would you like information material? (optional)"),
        queryset=InfoMaterial.objects.none(),
        required=False,
        empty_label=_("No material, thank you"),
        widget=forms.RadioSelect,
        blank=True,
        help_text=_("Printed material comes by post: then we need your address."),
    )
    wants_call = forms.BooleanField(label=_("Please call me"), required=False)
    consent = forms.BooleanField(label=_("Consent"), required=True)
    # Separate from the consent to answer the enquiry, never ticked in advance, and
    # only consent once confirmed by the emailed link (double opt-in).
    marketing = forms.BooleanField(label=MARKETING_CONSENT_TEXT, required=False)
    # Spam trap: hidden from people (CSS and aria-hidden), filled in by bots.
    website = forms.CharField(label=_("Leave this field empty"), required=False)
    # One per rendered form: a double click or a resubmit stays one lead.
    nonce = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, campaign: Campaign, consent_text: str, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        materials = campaign.materials.order_by("pk")
        if materials.exists():
            self.fields["material"].queryset = materials
            self.fields["material"].label_from_instance = material_choice_label
            if not any(m.is_printed for m in materials):
                self.fields["material"].help_text = ""
        else:
            del self.fields["material"]
        self.fields["consent"].label = consent_text
        self.fields["consent"].error_messages["required"] = _(
            "Please agree so that we may answer you."
        )
        if not self.is_bound:
            self.fields["nonce"].initial = secrets.token_urlsafe(16)

    def clean_phone(self):
        phone = self.cleaned_data["phone"].strip()
        if phone and (
            not re.fullmatch(r"[0-9+()\-/. ]+", phone) or len(re.sub(r"\D", "", phone)) < 5
        ):
            raise forms.ValidationError(_("Please enter a phone number."))
        return phone

    def clean(self):
        data = super().clean()
        material = data.get("material")
        if (
            not data.get("email")
            and not data.get("phone")
            and "email" not in self.errors
            and "phone" not in self.errors
        ):
            self.add_error("email", _("Please give an email address or a phone number."))
        if (
            material is not None
            and not material.is_printed
            and not data.get("email")
            and "email" not in self.errors
        ):
            self.add_error(
                "email", _("We send this material by email: please give your email address.")
            )
        if material is not None and material.is_printed and not _postal(data):
            for name in ("street", "postcode", "city"):
                if not (data.get(name) or "").strip():
                    self.add_error(name, _("We post this material: please give your address."))
        if data.get("marketing") and not data.get("email") and "email" not in self.errors:
            self.add_error("email", _("We send news by email: please give your email address."))
        if data.get("wants_call") and not data.get("phone") and "phone" not in self.errors:
            self.add_error("phone", _("Please give a phone number so that we can call you."))
        return data

    @property
    def nonce_value(self) -> str:
        nonce = (self.cleaned_data.get("nonce") or "").strip()
        return nonce if _NONCE.match(nonce) else ""

    def lead_data(self, *, consent_text: str, language: str, now) -> dict:
        """The lead's fields: consent (the lawful basis) with the text shown and its
        language; the marketing box's text, in that language, when it was ticked."""
        data = self.cleaned_data
        material = data.get("material")
        marketing = {}
        if data.get("marketing"):
            with translation.override(language):
                marketing = {
                    "marketing_consent_text": str(MARKETING_CONSENT_TEXT),
                    "marketing_consent_requested_at": now,
                }
        return {
            "contact_name": data["contact_name"].strip(),
            "company": data["company"].strip(),
            "email": data["email"],
            "phone": data["phone"],
            "street": data["street"].strip(),
            "postcode": data["postcode"].strip(),
            "city": data["city"].strip(),
            "country": data["country"] or "DE",
            "message": data["message"].strip(),
            "requests_material": material is not None,
            "requested_material": material,
            "wants_call": data["wants_call"],
            "consent_text": consent_text,
            "consent_language": language,
            "consent_at": now,
            "lawful_basis": LawfulBasis.CONSENT,
            "external_id": f"form:{self.nonce_value}" if self.nonce_value else "",
            **marketing,
        }


class ManualLeadForm(forms.Form):
    """A single lead typed in by hand: a phone enquiry, a business card."""

    campaign = forms.ModelChoiceField(
        label=_("Campaign"),
        queryset=Campaign.objects.none(),
        required=False,
        empty_label=_("No campaign"),
    )
    channel = forms.ChoiceField(
        label=_("Channel (without a campaign)"), choices=Channel.choices, initial=Channel.PHONE
    )
    received_at = forms.DateTimeField(label=_("Received at"), widget=DateTimeLocalInput())
    contact_name = forms.CharField(label=_("Contact person"), max_length=200)
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(label=_("Phone"), max_length=50, required=False)
    street = forms.CharField(label=_("Street"), max_length=200, required=False)
    postcode = forms.CharField(label=_("Postcode"), max_length=10, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.CharField(label=_("Country (2 letters)"), max_length=2, initial="DE")
    message = forms.CharField(
        label=_("Message"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    material = forms.ModelChoiceField(
        label=_("Asked for material"),
        queryset=InfoMaterial.objects.all(),
        required=False,
        empty_label=_("None"),
    )
    wants_call = forms.BooleanField(label=_("Wants a call"), required=False)
    consent = forms.BooleanField(
        label=_("Consent given (the campaign's consent text was read out)"), required=False
    )
    lawful_basis = forms.ChoiceField(
        label=_("Lawful basis"),
        choices=[("", _("— choose —")), *LawfulBasis.choices],
        help_text=_(
            "Why we may keep this person's data: consent (read out and agreed), a "
            "pre-contract enquiry (they asked for material, an offer or a call), or a "
            "legitimate interest."
        ),
        error_messages={"required": _("Choose the lawful basis on which this lead is kept.")},
    )

    def __init__(self, *args, now=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()
        self.fields["campaign"].queryset = Campaign.objects.filter(
            status__in=[Campaign.Status.ACTIVE, Campaign.Status.ENDED]
        ).order_by("-starts_on", "name")
        if not self.is_bound:
            self.fields["received_at"].initial = timezone.localtime(self.now).replace(
                second=0, microsecond=0
            )

    def clean_received_at(self):
        received_at = self.cleaned_data["received_at"]
        problem = received_at_problem(received_at, now=self.now)
        if problem == "future":
            raise forms.ValidationError(_("The time of receipt cannot lie in the future."))
        if problem == "old":
            raise forms.ValidationError(
                _("The time of receipt cannot lie before %(date)s.")
                % {"date": date_format(RECEIVED_FLOOR, "SHORT_DATE_FORMAT")}
            )
        return received_at

    def clean_country(self):
        country = self.cleaned_data["country"].strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise forms.ValidationError(_("Two letters, e.g. DE, AT, CH."))
        return country

    def clean(self):
        data = super().clean()
        reachable = (
            data.get("email") or data.get("phone") or (data.get("street") and data.get("city"))
        )
        if not reachable and not self.errors:
            self.add_error(None, _("Give an email address, a phone number or a postal address."))
        material = data.get("material")
        if material is not None and material.is_printed and not _postal(data):
            self.add_error(
                "material", _("Printed material is posted: give street, postcode and city.")
            )
        if data.get("lawful_basis") == LawfulBasis.CONSENT and not data.get("consent"):
            self.add_error(
                "consent", _("Consent as the lawful basis needs the consent to have been given.")
            )
        return data

    def lead_data(self, *, language: str) -> dict:
        """The lead's fields; a consent read out is recorded in `language` (the caller's)."""
        data = self.cleaned_data
        campaign = data.get("campaign")
        material = data.get("material")
        consent_text = ""
        if data["consent"]:
            if campaign:
                consent_text = campaign.consent_text_for(language)
            else:
                with translation.override(language):
                    consent_text = str(_("Consent given by phone."))
        return {
            "channel": "" if campaign else data["channel"],
            "contact_name": data["contact_name"].strip(),
            "company": data["company"].strip(),
            "email": data["email"],
            "phone": data["phone"].strip(),
            "street": data["street"].strip(),
            "postcode": data["postcode"].strip(),
            "city": data["city"].strip(),
            "country": data["country"],
            "message": data["message"].strip(),
            "requests_material": material is not None,
            "requested_material": material,
            "wants_call": data["wants_call"],
            "consent_text": consent_text,
            "consent_language": language if data["consent"] else "",
            "consent_at": data["received_at"] if data["consent"] else None,
            "received_at": data["received_at"],
            "lawful_basis": data["lawful_basis"],
        }


# --- import -----------------------------------------------------------------------------


class ImportUploadForm(forms.Form):
    label_suffix = ""
    file = forms.FileField(
        label=_("CSV or Excel file (.csv, .xlsx)"),
        help_text=_("One lead per row, the first row names the columns. Up to 20 MB."),
    )


class ImportMappingForm(forms.Form):
    """One select per column of the file, plus the choices for the whole file."""

    received_on = forms.DateField(
        label=_("Received on (for rows without their own date)"),
        required=False,
        widget=DateInput(),
        help_text=_("For example the last day of the fair."),
    )
    on_duplicate = forms.ChoiceField(
        label=_("Leads we know already (same email, else phone, else company and name)"),
        choices=ImportJob.Duplicates.choices,
        initial=ImportJob.Duplicates.SKIP,
        widget=forms.RadioSelect,
    )
    # Unticked unless whoever imports says so (leads.imports.import_start).
    material_all = forms.BooleanField(
        label=_("Every row asked for the campaign's info material"),
        required=False,
        help_text=_(
            "Tick only if every person in the file asked for it. Printed material needs a "
            "postal address: rows without street, postcode and city are listed as errors."
        ),
    )
    consent_all = forms.BooleanField(
        label=_("Every row gave consent with the campaign's consent text"), required=False
    )
    # No initial choice: whoever imports says why the company may keep these people's data.
    lawful_basis = forms.ChoiceField(
        label=_("Lawful basis for every lead of this file"),
        choices=LawfulBasis.choices,
        widget=forms.RadioSelect,
        help_text=_(
            "Consent: each row agreed to the campaign's consent text. Pre-contract enquiry: "
            "they asked for material, an offer or a call. Legitimate interest: e.g. business "
            "cards from a fair, weighed against their interests."
        ),
        error_messages={"required": _("Choose the lawful basis on which these leads are kept.")},
    )

    def __init__(self, *args, job: ImportJob, now=None, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.job = job
        self.now = now or timezone.now()
        choices = [("", _("— ignore —")), *[(key, label) for key, label in TARGETS.items()]]
        by_column = {index: target for target, index in job.mapping.items()}
        self.column_fields = []
        for index, name in enumerate(job.header):
            field_name = f"col_{index}"
            self.fields[field_name] = forms.ChoiceField(
                label=name, choices=choices, required=False, initial=by_column.get(index, "")
            )
            self.column_fields.append(field_name)
        if not self.is_bound:
            self.fields["material_all"].initial = job.material_all
            self.fields["consent_all"].initial = job.consent_all
            self.fields["on_duplicate"].initial = job.on_duplicate
            self.fields["lawful_basis"].initial = job.lawful_basis or None

    def clean_received_on(self):
        day = self.cleaned_data["received_on"]
        if day and day > timezone.localdate(self.now):
            raise forms.ValidationError(_("The date cannot lie in the future."))
        return day

    def clean(self):
        from leads.import_files import mapping_problems

        data = super().clean()
        mapping: dict[str, int] = {}
        for index, field_name in enumerate(self.column_fields):
            target = data.get(field_name)
            if not target:
                continue
            if target in mapping:
                self.add_error(
                    field_name,
                    _("“%(target)s” is chosen for two columns.") % {"target": TARGETS[target]},
                )
            mapping[target] = index
        data["mapping"] = mapping
        if not self.errors:
            for problem in mapping_problems(
                mapping=mapping,
                received_on=data.get("received_on"),
                lawful_basis=data.get("lawful_basis"),
                consent_all=data.get("consent_all", False),
            ):
                self.add_error(None, problem)
        return data
