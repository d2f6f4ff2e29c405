"""The audit trail: one CloudTrail-format event per API call (``record``), with
secrets redacted (``redact``), written ahead of the response to a per-process spool
and batched into the store and the optional JSON-lines log behind it
(``writer``); CloudTrail's ``LookupEvents`` reads them back (``lookup``)."""
