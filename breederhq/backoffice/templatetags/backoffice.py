from django import template

from breederhq.backoffice.support import support_session_get
from breederhq.backoffice.view_as import view_as_get

register = template.Library()


@register.inclusion_tag("admin/backoffice/support_banner.html", takes_context=True)
def support_banner(context):
    request = context.get("request")
    if request is None:
        return {}
    return {"support": support_session_get(request), "view_as": view_as_get(request)}
