"""The ``docuvault`` command line: tokens, uploads, status, search and topics."""
