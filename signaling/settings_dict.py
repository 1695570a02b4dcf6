"""One namespaced settings dict per app (``SIGNALING``, ``ROOMS``, ``FRONTEND``), as Django REST framework keeps
``REST_FRAMEWORK``, each setting described once.

An app's settings class declares each key as a ``Setting``: its default and its ``Kind``, which both reads the
value (the typed accessor: ``conf.MAX_PEERS`` is an ``int``) and checks it (``manage.py check``: one id per kind of
problem, as django-cors-headers numbers its checks). The defaults, the accessors and the value checks all come
from that one declaration; ``settings_check`` adds the checks every such dict gets (it is a dict, ``<app>.E001``;
it has no unknown keys, ``<app>.E002``) and the app's own checks of settings taken together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, overload

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """What is wrong with a value: the end of a sentence that starts with the setting's name (``must be a
    positive integer, not 0``), and a hint."""

    text: str
    hint: str | None = None


class Kind(Generic[T]):
    """What values a setting takes: ``read`` makes the typed value of a good one, ``problem`` says what is wrong
    with a bad one (None: nothing), reported under the check id ``code`` (``E003``; the app's prefix is added)."""

    def __init__(self, code: str | None) -> None:
        self.code = code

    def read(self, value: Any) -> T:
        raise NotImplementedError

    def problem(self, value: Any) -> Problem | None:
        return None


class PositiveInteger(Kind[int]):
    def read(self, value: Any) -> int:
        return int(value)

    def problem(self, value: Any) -> Problem | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return Problem(f"must be a positive integer, not {value!r}")
        return None


class WholeNumber(Kind[int]):
    def read(self, value: Any) -> int:
        return int(value)

    def problem(self, value: Any) -> Problem | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return Problem(f"must be a whole number (0 or more), not {value!r}")
        return None


class PositiveNumber(Kind[float]):
    def read(self, value: Any) -> float:
        return float(value)

    def problem(self, value: Any) -> Problem | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            return Problem(f"must be a positive number, not {value!r}")
        return None


class Seconds(Kind[float]):
    """A number of seconds, 0 included."""

    def read(self, value: Any) -> float:
        return float(value)

    def problem(self, value: Any) -> Problem | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            return Problem(f"must be a number of seconds (0 or more), not {value!r}")
        return None


class DaysOrNone(Kind[float | None]):
    def read(self, value: Any) -> float | None:
        return None if value is None else float(value)

    def problem(self, value: Any) -> Problem | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            return Problem(f"must be a number of days (0 or more) or None, not {value!r}")
        return None


class Boolean(Kind[bool]):
    def read(self, value: Any) -> bool:
        return bool(value)

    def problem(self, value: Any) -> Problem | None:
        return None if isinstance(value, bool) else Problem("must be True or False")


class Text(Kind[str]):
    """A string; ``non_empty`` refuses ``""``. Without a code, any value is read as its ``str``."""

    def __init__(self, code: str | None = None, *, non_empty: bool = False) -> None:
        super().__init__(code)
        self.non_empty = non_empty

    def read(self, value: Any) -> str:
        return str(value)

    def problem(self, value: Any) -> Problem | None:
        if self.code is not None and (not isinstance(value, str) or (self.non_empty and not value)):
            return Problem("must be a non-empty string" if self.non_empty else f"must be a string, not {value!r}")
        return None


class OptionalText(Kind[str | None]):
    """A string or None; an empty string reads as None."""

    def read(self, value: Any) -> str | None:
        return str(value) if value else None


class Choice(Kind[str]):
    def __init__(self, code: str, choices: Sequence[str]) -> None:
        super().__init__(code)
        self.choices = tuple(choices)

    def read(self, value: Any) -> str:
        return str(value)

    def problem(self, value: Any) -> Problem | None:
        if value in self.choices:
            return None
        return Problem(f"must be one of {', '.join(self.choices)}, not {value!r}")


class Url(Kind[str]):
    """A URL with one of ``schemes`` (or, with ``paths``, a path beginning with /)."""

    def __init__(self, code: str, schemes: Sequence[str], *, paths: bool = False, hint: str | None = None) -> None:
        super().__init__(code)
        self.schemes, self.paths, self.hint = tuple(schemes), paths, hint

    def read(self, value: Any) -> str:
        return str(value)

    def problem(self, value: Any) -> Problem | None:
        if isinstance(value, str) and (value.startswith(self.schemes) or (self.paths and value.startswith("/"))):
            return None
        schemes = ", ".join(self.schemes[:-1]) + " or " + self.schemes[-1]
        wanted = f"a path beginning with / or a {schemes} URL" if self.paths else f"a {schemes} URL"
        return Problem(f"must be {wanted}, not {value!r}", self.hint)


class Setting(Generic[T]):
    """One key of a settings dict: its default and its kind. On an instance of the settings class it is the
    key's typed value (the user's, else the default)."""

    def __init__(self, default: Any, kind: Kind[T], *, security: bool = False) -> None:
        self.default = default
        self.kind = kind
        #: Checked by the app's security check (``manage.py check --deploy``) instead of its settings check.
        self.security = security
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Setting[T]: ...

    @overload
    def __get__(self, instance: SettingsDict, owner: type) -> T: ...

    def __get__(self, instance: SettingsDict | None, owner: type) -> Setting[T] | T:
        if instance is None:
            return self
        return self.kind.read(instance.user_settings.get(self.name, self.default))


class SettingsDict:
    """The typed settings of ``settings.<setting>``: subclasses declare each key as a ``Setting``."""

    setting: ClassVar[str]
    #: The prefix of the app's check ids (``signaling`` for ``signaling.E003``).
    app: ClassVar[str]
    #: Every key, in the order declared, and each default (derived from the declarations).
    declared: ClassVar[dict[str, Setting[Any]]]
    defaults: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.declared = {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}
        cls.defaults = {name: value.default for name, value in cls.declared.items()}

    @property
    def user_settings(self) -> Mapping[str, Any]:
        value = getattr(settings, self.setting, None)
        return value if isinstance(value, Mapping) else {}

    @classmethod
    def value_problems(cls, user_settings: Mapping[str, Any], *, security: bool = False) -> list[CheckMessage]:
        """An error for each key (of the settings check's, or with ``security`` of the security check's) whose
        value its kind refuses."""
        errors: list[CheckMessage] = []
        for name, declared in cls.declared.items():
            if declared.security != security or declared.kind.code is None:
                continue
            value = user_settings.get(name, declared.default)
            problem = declared.kind.problem(value)
            if problem is not None:
                errors.append(
                    Error(
                        f"{cls.setting}['{name}'] {problem.text}.",
                        hint=problem.hint,
                        id=f"{cls.app}.{declared.kind.code}",
                    )
                )
        return errors


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
    settings_class: type[SettingsDict],
) -> Callable[[Callable[[Mapping[str, Any]], list[CheckMessage]]], Callable[..., list[CheckMessage]]]:
    """Register the system check of ``settings.<setting>``: its shape (``<app>.E001``, ``<app>.E002``), then each
    value by its kind, then the decorated function with the user's dict (a dict by then) for what the app checks
    of its settings taken together."""
    setting, app = settings_class.setting, settings_class.app

    def decorate(check: Callable[[Mapping[str, Any]], list[CheckMessage]]) -> Callable[..., list[CheckMessage]]:
        def run(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
            user_settings, errors = check_dict_shape(setting, settings_class.defaults, app)
            if errors and errors[0].id == f"{app}.E001":
                return errors
            return errors + settings_class.value_problems(user_settings) + check(user_settings)

        # Named as the check, but not functools.wraps: Django reads the registered function's own signature
        # (**kwargs), which wraps would hide behind the check's.
        run.__name__, run.__qualname__, run.__doc__ = check.__name__, check.__qualname__, check.__doc__
        run.__module__ = check.__module__
        return register(Tags.compatibility)(run)

    return decorate
