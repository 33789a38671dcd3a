"""The catalog's services: customers, the sync, task extraction, housekeeping.

Everything the CLI, the admin, the jobs and the web app do to the catalog goes through
these functions, so each rule lives in one place.
"""

from zwm.catalog.services.customers import (
    CreatedCustomer,
    CredentialsRejected,
    CustomerError,
    CustomerInput,
    CustomerNotFound,
    InvalidCustomerConfiguration,
    build_client,
    check_credentials,
    confirm_with_zuora,
    create_customer,
    create_customer_and_queue_sync,
    credentials_for,
    get_customer,
    prepare_customer,
    queue_first_sync,
    save_customer,
    update_customer,
)
from zwm.catalog.services.maintenance import prune_sync_runs, rotate_secrets
from zwm.catalog.services.sync import sync_customer
from zwm.catalog.services.tasks import NoStoredExport, reextract_many, reextract_tasks

__all__ = [
    "CreatedCustomer",
    "CredentialsRejected",
    "CustomerError",
    "CustomerInput",
    "CustomerNotFound",
    "InvalidCustomerConfiguration",
    "NoStoredExport",
    "build_client",
    "check_credentials",
    "confirm_with_zuora",
    "create_customer",
    "create_customer_and_queue_sync",
    "credentials_for",
    "get_customer",
    "prepare_customer",
    "prune_sync_runs",
    "queue_first_sync",
    "reextract_many",
    "reextract_tasks",
    "rotate_secrets",
    "save_customer",
    "sync_customer",
    "update_customer",
]
