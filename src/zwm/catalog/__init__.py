"""The catalog: customers (Zuora tenants), their workflows, tasks and linkages, and the sync service."""
