from django.apps import AppConfig


class PaymentsAppConfig(AppConfig):
    name = "payments_app"
    verbose_name = "Payments"
