"""Share-link endpoints: list and create a sweep's read-only links, revoke one."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from scheduler import access, sharing
from scheduler.models import ShareLink

from .auth import require_sweep
from .serializers import valid


class ShareLinkInput(serializers.Serializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("must be in the future")
        return value


class ShareLinkSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    valid = serializers.BooleanField(source="is_valid")
    token = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = ShareLink
        fields = ["id", "sweep", "created_by", "created_at", "expires_at", "revoked_at"]
        fields += ["valid", "token", "url"]

    def get_token(self, link: ShareLink) -> str:
        return access.share_token(link)

    def get_url(self, link: ShareLink) -> str:
        return self.context["request"].build_absolute_uri(sharing.share_path(link))


class ShareLinks(APIView):
    """A sweep's read-only share links (members); POST creates one, optionally expiring."""

    @extend_schema(responses=ShareLinkSerializer(many=True))
    def get(self, request, pk: int):
        sweep = require_sweep(request.user, pk, access.MEMBER).sweep
        links = sharing.links_of(sweep)
        return Response(ShareLinkSerializer(links, many=True, context={"request": request}).data)

    @extend_schema(request=ShareLinkInput, responses={201: ShareLinkSerializer})
    def post(self, request, pk: int):
        sweep = require_sweep(request.user, pk, access.MEMBER).sweep
        data = valid(ShareLinkInput, request.data)
        link = sharing.create_link(sweep, request.user, data.get("expires_at"))
        body = ShareLinkSerializer(link, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ShareLinkRevoke(APIView):
    """Revoke a share link; sockets opened through it are closed."""

    @extend_schema(request=None, responses=ShareLinkSerializer)
    def post(self, request, pk: int):
        link = ShareLink.objects.filter(pk=pk).first()
        if link is None or access.sweep_access(request.user, link.sweep_id) is None:
            raise exceptions.NotFound(f"share link {pk} not found")
        require_sweep(request.user, link.sweep_id, access.MEMBER)
        sharing.revoke_link(link)
        return Response(ShareLinkSerializer(link, context={"request": request}).data)
