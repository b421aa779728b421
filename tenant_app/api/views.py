from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from breederhq.tenancy import write_authorization_audit
from tenant_app.selectors import contact_list


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    display_name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()


class ContactListView(APIView):
    """The current tenant's contacts. The tenant comes from TenantContextMiddleware."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        tenant_id = getattr(request._request, "tenant_id", None)
        if tenant_id is None:
            write_authorization_audit(
                user_id=request.user.pk, resource_type="contacts", resource_id=None, action="list",
                allowed=False, reason="no tenant membership resolved for this request", request=request._request,
            )
            return Response({"title": "Permission denied", "status": 403, "code": "no_tenant",
                             "detail": "Choose a tenant you are a member of (X-Tenant-ID)."}, status=403)
        contacts = contact_list(tenant_id=tenant_id)
        return Response({"results": ContactSerializer(contacts, many=True).data})
