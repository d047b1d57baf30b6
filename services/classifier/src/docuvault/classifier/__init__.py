"""DocuVault classifier: scores each document's text against its owner's topics."""
