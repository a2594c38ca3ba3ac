"""The lookup core: a query in, a LookupResult out (parse, public check, DNS, record, time zone, ASN).

Nothing here imports lookups.web, lookups.admin or any other presentation code: the channels
import the core, never the other way round (docs/architecture.md).
"""
