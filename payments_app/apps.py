from django.apps import AppConfig


class PaymentsAppConfig(AppConfig):
    name = "payments_app"
    verbose_name = "Payments"

    def ready(self):
        # The domain apps call the core's payments port; this app answers it.
        from breederhq.invoicing.payments import register
        from payments_app.payments_port import StripePayments

        register(StripePayments())
