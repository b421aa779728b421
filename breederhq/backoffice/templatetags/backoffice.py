from django import template

from breederhq.backoffice.support import support_session_get

register = template.Library()


@register.inclusion_tag("admin/backoffice/support_banner.html", takes_context=True)
def support_banner(context):
    request = context.get("request")
    return {"support": support_session_get(request) if request is not None else None}
