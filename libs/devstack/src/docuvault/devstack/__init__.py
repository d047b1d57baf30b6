"""The local stack behind ``make up``/``make down`` and the tests' private stack."""
