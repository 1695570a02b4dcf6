"""One namespaced settings dict per app (``SIGNALING``, ``ROOMS``, ``FRONTEND``), as Django REST framework keeps
``REST_FRAMEWORK``: typed accessors that fall back to the app's defaults, and the two checks every such dict gets
(it is a dict; it has no unknown keys), each with its own id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register


class SettingsDict:
    """Typed accessors for ``settings.<setting>``: subclasses add a property per key, reading ``_get(key)``."""

    setting: ClassVar[str]
    defaults: ClassVar[Mapping[str, Any]]

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, self.setting, None)
        return value if isinstance(value, Mapping) else {}

    def _get(self, name: str) -> Any:
        return self.user_settings.get(name, self.defaults[name])


def check_dict_shape(
    setting: str, defaults: Mapping[str, Any], app: str
) -> tuple[Mapping[str, Any], list[CheckMessage]]:
    """The user's ``settings.<setting>`` (``{}`` when it is not a dict) and the errors of its shape: ``<app>.E001``
    when it is not a dict, ``<app>.E002`` for unknown keys."""
    user_settings = getattr(settings, setting, {})
    if not isinstance(user_settings, Mapping):
        return {}, [Error(f"{setting} must be a dict.", id=f"{app}.E001")]
    unknown = sorted(set(user_settings) - set(defaults))
    if unknown:
        return user_settings, [
            Error(
                f"{setting} has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(defaults))}.",
                id=f"{app}.E002",
            )
        ]
    return user_settings, []


def settings_check(
    setting: str, defaults: Mapping[str, Any], app: str
) -> Callable[[Callable[[Mapping[str, Any]], list[CheckMessage]]], Callable[..., list[CheckMessage]]]:
    """Register a system check of ``settings.<setting>``: the shape (``<app>.E001``, ``<app>.E002``) first, then the
    decorated function with the user's dict (it is one by then), its own errors after those."""

    def decorate(check: Callable[[Mapping[str, Any]], list[CheckMessage]]) -> Callable[..., list[CheckMessage]]:
        def run(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
            user_settings, errors = check_dict_shape(setting, defaults, app)
            if errors and errors[0].id == f"{app}.E001":
                return errors
            return errors + check(user_settings)

        # Named as the check, but not functools.wraps: Django reads the registered function's own signature
        # (**kwargs), which wraps would hide behind the check's.
        run.__name__, run.__qualname__, run.__doc__ = check.__name__, check.__qualname__, check.__doc__
        run.__module__ = check.__module__
        return register(Tags.compatibility)(run)

    return decorate
