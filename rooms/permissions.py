"""Who may do what through the REST API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from rooms.models import Room
from signaling.policy import Access


def rooms_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Room]:
    """Every room for staff; for others the rooms that are not token-only, and those they are allowed into."""
    rooms = Room.objects.all()
    if getattr(user, "is_staff", False):
        return rooms
    visible = ~Q(access=Access.TOKEN)
    if user.is_authenticated:
        visible |= Q(allowed_users=user)
    return rooms.filter(visible).distinct()


class IsStaffOrReadOnly(BasePermission):
    """Anyone reads (what the queryset lets them see); staff write and moderate."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class IsStaff(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)


class IsOwnerOrStaff(BasePermission):
    """A recording is its uploader's (and staff's) to read, download and delete."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return bool(request.user.is_staff or obj.owner_id == request.user.pk)
