from django.urls import path

from tenant_app.api.views import ContactListView

urlpatterns = [
    path("contacts/", ContactListView.as_view(), name="contact-list"),
]
