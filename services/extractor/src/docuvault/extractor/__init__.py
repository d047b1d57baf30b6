"""DocuVault extractor: turns uploaded documents into text (text layers, OCR) and announces it."""
