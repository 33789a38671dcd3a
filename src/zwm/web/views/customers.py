"""Customers: list with sync actions, create/edit with the credential check, delete.

Viewers read; operators sync; admins create, edit and delete. Every rule about what a
valid customer is lives in ``catalog.services.customers``: this module turns its errors
into messages next to the right field.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from zwm.catalog.jobs import dispatch_sync, dispatch_sync_all
from zwm.catalog.models import Customer, SyncRun
from zwm.catalog.services import (
    CredentialsRejected,
    CustomerError,
    confirm_with_zuora,
    create_customer_and_queue_sync,
    prepare_customer,
    update_customer,
)
from zwm.queue import batches
from zwm.web.forms import CustomerForm
from zwm.web.listing import listing
from zwm.web.roles import Role, require_role
from zwm.web.views.filters import as_id

CUSTOMER_SORTS = {
    "name": "name",
    "environment": "environment",
    "workflows": "workflow_count",
    "last_synced": "last_synced_at",
    "status": "last_sync_status",
}


@require_role(Role.VIEWER)
def customer_list(request: HttpRequest) -> HttpResponse:
    customers = Customer.objects.annotate(workflow_count=Count("workflows"))
    if query := request.GET.get("q", "").strip():
        customers = customers.filter(name__icontains=query)
    context = {
        "listing": listing(request, customers, sorts=CUSTOMER_SORTS, default_sort="name"),
        "q": query,
        "batch_id": request.GET.get("batch", ""),
    }
    return render(request, "web/customers/list.html", context)


@require_role(Role.VIEWER)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.annotate(workflow_count=Count("workflows")), pk=pk)
    runs = SyncRun.objects.filter(customer=customer)
    context = {
        "customer": customer,
        "last_run": runs.order_by("-started_at", "-id").first(),
        "listing": listing(
            request, runs, sorts={"started": "started_at"}, default_sort="-started", per_page=25
        ),
    }
    return render(request, "web/customers/detail.html", context)


def _field_for(error: CustomerError) -> str | None:
    """The form field a service error is about, so the message shows next to it."""
    if isinstance(error, CredentialsRejected):
        return "client_secret"
    text = str(error)
    for needle, field in (
        ("already exists", "name"),
        ("name must", "name"),
        ("secret", "client_secret"),
        ("base URL", "base_url"),
        ("environment", "environment"),
        ("entity", "entity_id"),
        ("client id", "client_id"),
    ):
        if needle in text:
            return field
    return None


def _show_error(form: CustomerForm, error: CustomerError) -> None:
    form.add_error(_field_for(error), str(error))


def _test_connection(request: HttpRequest, form: CustomerForm, customer: Customer) -> None:
    """Ask Zuora for a token with the form's credentials (the stored secret when left blank)."""
    try:
        credentials = prepare_customer(customer, form.to_input(), validate=False)
        confirm_with_zuora(credentials)
    except CustomerError as exc:
        _show_error(form, exc)
    else:
        messages.success(request, "Zuora accepted these credentials (nothing was saved).")


@require_role(Role.ADMIN)
def customer_create(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if request.POST.get("action") == "test":
            _test_connection(request, form, Customer())
        else:
            try:
                created = create_customer_and_queue_sync(form.to_input(), trigger=SyncRun.Trigger.UI)
            except CustomerError as exc:
                _show_error(form, exc)
            else:
                messages.success(
                    request, f"Customer {created.customer.name} created; its first sync is queued."
                )
                return redirect("web:customer-list")
    return render(request, "web/customers/form.html", {"form": form, "customer": None})


def _stale(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A form posted for a customer deleted meanwhile: say so instead of a bare 404."""
    messages.error(request, "That customer no longer exists (deleted meanwhile); nothing was changed.")
    return redirect("web:customer-list")


def _changed_since(customer: Customer, loaded_at: str) -> bool:
    try:
        return datetime.fromisoformat(loaded_at) != customer.updated_at
    except ValueError:
        return True


@require_role(Role.ADMIN)
def customer_edit(request: HttpRequest, pk: int) -> HttpResponseBase:
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        if request.method == "POST":
            return _stale(request, pk)
        raise Http404("no such customer")
    form = CustomerForm(request.POST or None, customer=customer)
    if request.method == "POST" and form.is_valid():
        if request.POST.get("action") == "test":
            _test_connection(request, form, Customer.objects.get(pk=pk))
        elif _changed_since(customer, form.cleaned_data["loaded_at"]):
            form.add_error(
                None,
                "Someone changed this customer after you opened the form. Reload it, check, and save again.",
            )
        else:
            try:
                update_customer(customer, form.to_input())
            except CustomerError as exc:
                _show_error(form, exc)
            else:
                messages.success(request, f"Customer {customer.name} saved.")
                return redirect("web:customer-list")
    return render(request, "web/customers/form.html", {"form": form, "customer": customer})


@require_role(Role.ADMIN)
def customer_delete(request: HttpRequest, pk: int) -> HttpResponseBase:
    customer = Customer.objects.filter(pk=pk).annotate(workflow_count=Count("workflows")).first()
    if customer is None:
        if request.method == "POST":
            return _stale(request, pk)
        raise Http404("no such customer")
    if request.method == "POST":
        name = customer.name
        customer.delete()
        messages.success(request, f"Customer {name} and its catalog were deleted.")
        return redirect("web:customer-list")
    return render(request, "web/customers/delete.html", {"customer": customer})


@require_POST
@require_role(Role.OPERATOR)
def customer_sync(request: HttpRequest, pk: int) -> HttpResponseBase:
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        return _stale(request, pk)
    if dispatch_sync(customer, trigger=SyncRun.Trigger.UI):
        messages.success(request, f"Sync of {customer.name} queued.")
    else:
        messages.info(request, f"A sync of {customer.name} is already queued.")
    return redirect(_back(request))


@require_role(Role.OPERATOR)
def customer_full_sync(request: HttpRequest, pk: int) -> HttpResponseBase:
    """A full sync, which may delete what a normal sync withheld: asked for, then confirmed."""
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        if request.method == "POST":
            return _stale(request, pk)
        raise Http404("no such customer")
    if request.method == "POST":
        if dispatch_sync(customer, trigger=SyncRun.Trigger.UI, full=True):
            messages.success(request, f"Full sync of {customer.name} queued.")
        else:
            messages.info(request, f"A sync of {customer.name} is already queued; try again when it is done.")
        return redirect("web:customer-detail", pk=pk)
    last = SyncRun.objects.filter(customer=customer).order_by("-started_at", "-id").first()
    return render(request, "web/customers/full_sync.html", {"customer": customer, "last": last})


@require_POST
@require_role(Role.OPERATOR)
def customer_bulk_sync(request: HttpRequest) -> HttpResponseBase:
    """Sync the ticked customers (each its own job; one already queued is not queued twice)."""
    ids = [pk for pk in map(as_id, request.POST.getlist("ids")) if pk is not None]
    customers = list(Customer.objects.filter(pk__in=ids))
    if not customers:
        messages.error(request, "Tick at least one customer to sync.")
        return redirect("web:customer-list")
    queued = sum(1 for customer in customers if dispatch_sync(customer, trigger=SyncRun.Trigger.UI))
    missing = len(set(ids)) - len(customers)
    text = f"Queued {queued} sync(s); {len(customers) - queued} already queued."
    if missing:
        text += f" {missing} ticked customer(s) no longer exist."
    messages.success(request, text)
    return redirect("web:customer-list")


@require_POST
@require_role(Role.OPERATOR)
def customer_sync_all(request: HttpRequest) -> HttpResponseBase:
    batch_id = dispatch_sync_all(trigger=SyncRun.Trigger.UI)
    if batch_id is None:
        messages.info(request, "There is no active customer to sync.")
        return redirect("web:customer-list")
    messages.success(request, "Sync of every active customer queued; progress below.")
    return redirect(f"{reverse('web:customer-list')}?batch={batch_id}")


@require_role(Role.VIEWER)
def batch_progress(request: HttpRequest, batch_id: str) -> HttpResponse:
    """The live progress of a "Sync all" batch (htmx polls this until it finishes)."""
    try:
        batch = batches.find(batch_id)
    except batches.BatchNotFound:
        raise Http404("no such batch") from None
    return render(request, "web/customers/batch.html", {"batch": batch})


def _back(request: HttpRequest) -> str:
    """Where an action returns to: the page it was posted from, if it is one of ours."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return target
    return reverse("web:customer-list")
