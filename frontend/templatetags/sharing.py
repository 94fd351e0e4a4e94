"""`{% share_panel %}`: the sweep page's share links, exports and delete control."""

from __future__ import annotations

from django import template

from scheduler import access as acl
from scheduler import sharing

register = template.Library()


@register.inclusion_tag("frontend/sharing/_share_panel.html", takes_context=True)
def share_panel(context: template.Context, found: acl.Access) -> dict:
    """Render the panel: links for members, downloads for everyone who sees the sweep."""
    request = context["request"]
    manages = found.share_link is None and found.allows(acl.MEMBER)
    links = [(link, sharing.share_path(link)) for link in sharing.links_of(found.sweep)]
    return {
        "request": request,
        "sweep": found.sweep,
        "manages": manages,
        "links": links if manages else [],
        "can_delete": acl.can_delete(found, request.user),
        "formats": [
            ("csv", "Trials CSV"),
            ("json", "Trials JSON"),
            ("best-yaml", "Best config YAML"),
            ("yaml", "Sweep YAML"),
        ],
    }
