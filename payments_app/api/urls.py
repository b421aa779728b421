from django.urls import path

from payments_app.api.views import stripe_webhook

app_name = "payments"
urlpatterns = [path("stripe/webhook", stripe_webhook, name="stripe-webhook")]
