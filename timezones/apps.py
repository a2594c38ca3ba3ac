from django.apps import AppConfig


class TimezonesConfig(AppConfig):
    name = "timezones"
    verbose_name = "Time zones"
