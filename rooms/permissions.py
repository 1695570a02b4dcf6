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


def has_staff_permission(user: Any, permission: str) -> bool:
    """Whether ``user`` is active staff holding ``permission`` (``rooms.change_room``...): the admin's own rule, so
    a staff account the admin refuses is refused here too."""
    return bool(user and user.is_active and user.is_staff and user.has_perm(permission))


def rooms_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Room]:
    """Every room for staff who may view rooms; for others the rooms that are not token-only, and those they are
    allowed into."""
    rooms = Room.objects.all()
    if has_staff_permission(user, "rooms.view_room"):
        return rooms
    visible = ~Q(access=Access.TOKEN)
    if user.is_authenticated:
        visible |= Q(allowed_users=user)
    return rooms.filter(visible).distinct()


def rooms_listed_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Room]:
    """The rooms a listing shows: those visible to ``user``, less ad-hoc rooms unless ``user`` manages rooms.

    An ad-hoc room is named by whoever joined it first; listing those to everyone would make any listing a billboard
    for whatever names strangers type. They are still reached by their id, as any room."""
    rooms = rooms_visible_to(user)
    return rooms if has_staff_permission(user, "rooms.view_room") else rooms.filter(ad_hoc=False)


_METHOD_ACTIONS = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class ReadOnlyOrStaffModelPermissions(BasePermission):
    """Anyone reads (what the queryset lets them see); writes need staff with the room permission the admin asks
    for the same change (add, change or delete)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        action = _METHOD_ACTIONS.get(request.method or "")
        return action is not None and has_staff_permission(request.user, f"rooms.{action}_room")


def staff_with(permission: str) -> type[BasePermission]:
    """A permission class: active staff holding ``permission``."""

    class StaffWithPermission(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return has_staff_permission(request.user, permission)

    StaffWithPermission.__name__ = StaffWithPermission.__qualname__ = f"StaffWith_{permission.replace('.', '_')}"
    return StaffWithPermission


class IsOwnerOrStaff(BasePermission):
    """A recording is its uploader's to read, download and delete; staff's with the admin's view (read) or delete
    permission on recordings."""

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        user = request.user
        if obj.owner_id == user.pk:
            return True
        needed = "rooms.view_recording" if request.method in SAFE_METHODS else "rooms.delete_recording"
        return has_staff_permission(user, needed)
