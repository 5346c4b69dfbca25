"""Plain frozen data with named fields, for every record type of the package.

collections.namedtuple would do, but importing collections and generating each class costs
the binary about 3 ms a run; these are ordinary classes, and compare by type as well as value.
"""

import sys


class Value:
    """Fields are the subclass's __slots__, in positional order; DEFAULTS gives optional ones."""

    __slots__ = ()
    DEFAULTS = {}

    def __init__(self, *args, **kwargs):
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields, got {len(args)}")
        for name, value in zip(names, args):
            object.__setattr__(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                object.__setattr__(self, name, kwargs.pop(name))
            elif name in self.DEFAULTS:
                object.__setattr__(self, name, self.DEFAULTS[name])
            else:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: no field {next(iter(kwargs))!r}")

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is frozen: use replace()")

    def _values(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def replace(self, **changes):
        """A copy with the given fields changed."""
        return type(self)(**{name: changes.pop(name, getattr(self, name))
                             for name in self.__slots__}, **changes)

    def __eq__(self, other):
        return type(self) is type(other) and self._values() == other._values()

    def __hash__(self):
        return hash((type(self), self._values()))

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self):
        return type(self), self._values()


def value(name, fields, defaults=None):
    """A Value subclass named name with the space-separated fields, like namedtuple()."""
    # Named after the caller's module, as namedtuple() does, so that pickle finds the class.
    return type(name, (Value,), {"__slots__": tuple(fields.split()), "DEFAULTS": defaults or {},
                                 "__module__": sys._getframe(1).f_globals["__name__"]})
