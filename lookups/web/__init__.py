"""The channels: the HTML pages, the JSON API, MaxMind's web service, and the renderers that turn a
LookupResult into what each of them answers. Everything here may import lookups.core; the core
never imports this package."""
