"""DocuVault ingest gateway: streams uploads to the object store and announces them."""
