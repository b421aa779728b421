from django.apps import AppConfig


class PaymentsAppConfig(AppConfig):
    name = "payments_app"
    verbose_name = "Payments"

    def ready(self):
        # The domain apps call the core's payments port; this app answers it.
        from breederhq.invoicing import disputes, payments
        from payments_app.disputes import latest_dispute_summary
        from payments_app.payments_port import StripePayments

        payments.register(StripePayments())
        # Invoice details show their latest dispute through the core's disputes port.
        disputes.register(latest_dispute_summary)
