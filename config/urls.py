from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from breederhq.health import healthz
from breederhq.observability.views import metrics

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-v1:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-v1:schema"), name="redoc"),
    path("auth/", include("breederhq.api.urls")),
    path("payments/", include("payments_app.api.urls")),
    path("marketplace/", include("marketplace_app.api.urls")),
    path("marketplace/", include("payments_app.api.marketplace_urls")),
    path("", include("tenant_app.api.urls")),
    path("", include("payments_app.api.tenant_urls")),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics, name="metrics"),
    path("admin/backoffice/", include("breederhq.backoffice.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api-v1"))),
]

# Outside DRF views (unknown URLs, crashes), API paths still answer in problem+json.
handler404 = "breederhq.api.views.not_found"
handler500 = "breederhq.api.views.server_error"
