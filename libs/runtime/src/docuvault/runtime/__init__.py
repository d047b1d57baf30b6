"""Shared runtime of the DocuVault services: settings, bus, BlobStore, auth, logging, health."""
