"""DocuVault catalog: the read model of every document and the query API."""
