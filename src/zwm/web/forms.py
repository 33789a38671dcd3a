"""Forms of the web app. They only shape input; the rules live in ``catalog.services``."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.models import User

from zwm.catalog.models import Customer
from zwm.catalog.services import CustomerInput
from zwm.web.roles import ROLE_NAMES, Role
from zwm.zuora import ENVIRONMENTS


class UsernamePasswordForm(BaseUserCreationForm):  # type: ignore[type-arg]  # generic in the stubs only
    """A username and a password typed twice, checked by Django's password validators."""

    class Meta:
        model = User
        fields = ("username",)
        field_classes = {"username": forms.CharField}


class NewUserForm(UsernamePasswordForm):
    role = forms.ChoiceField(choices=[(name, name) for name in ROLE_NAMES], initial=Role.VIEWER.label)


def _environment_choices() -> list[tuple[str, str]]:
    return [("", "Custom base URL (below)")] + [
        (env.slug, env.name) for env in ENVIRONMENTS.values() if env.available
    ]


class CustomerForm(forms.Form):
    """Create or edit a customer. The secret is write-only: never rendered back, and left
    blank on edit it keeps the stored one."""

    name = forms.CharField(max_length=150)
    environment = forms.ChoiceField(choices=_environment_choices, required=False)
    base_url = forms.CharField(
        max_length=255,
        required=False,
        label="Base URL",
        help_text="Only when no environment is chosen: https://..., or http:// to this machine.",
    )
    client_id = forms.CharField(max_length=255, label="Client ID")
    client_secret = forms.CharField(
        required=False,
        label="Client secret",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    entity_id = forms.CharField(max_length=64, required=False, label="Entity ID (multi-entity tenants)")
    active = forms.BooleanField(
        required=False, initial=True, help_text="Inactive customers are left out of Sync all."
    )
    loaded_at = forms.CharField(widget=forms.HiddenInput, required=False)
    """When the edited customer was loaded: a save over a newer change is refused."""

    def __init__(self, *args: object, customer: Customer | None = None, **kwargs: object) -> None:
        self.customer = customer
        if customer is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": customer.name,
                "environment": customer.environment,
                "base_url": customer.base_url,
                "client_id": customer.client_id,
                "entity_id": customer.entity_id,
                "active": customer.active,
                "loaded_at": customer.updated_at.isoformat(),
            }
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        secret = self.fields["client_secret"]
        if customer is None:
            secret.required = True
        else:
            secret.widget.attrs["placeholder"] = "•••••• (stored; leave blank to keep it)"
            secret.help_text = "Leave blank to keep the stored secret."

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("environment") and data.get("base_url"):
            self.add_error("base_url", "Leave this blank when an environment is chosen.")
        elif not data.get("environment") and not data.get("base_url") and "base_url" not in self.errors:
            self.add_error("base_url", "Choose an environment or enter a base URL.")
        return data

    def to_input(self) -> CustomerInput:
        data = self.cleaned_data
        return CustomerInput(
            name=data["name"],
            environment=data["environment"],
            base_url=data["base_url"],
            client_id=data["client_id"],
            client_secret=data["client_secret"] or None,
            entity_id=data["entity_id"],
            active=data["active"],
        )
