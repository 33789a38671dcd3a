"""Queue drivers: where waiting and reserved jobs live (database, Redis, or in-process)."""
