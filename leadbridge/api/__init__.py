"""The REST API's toolkit, shared by every app's api.py: RFC 9457 errors, strict
fields and filters, cursor pagination, body parsing, throttling, OpenAPI
post-processing and the API's language. Generic DRF plumbing: imports no app."""
