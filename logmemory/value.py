"""Plain data with named fields, for every record type of the package.

collections.namedtuple would do, but importing collections and generating each class costs
the binary about 3 ms a run; these are ordinary classes, and compare by type as well as value.
"""


class Value:
    """Fields are the subclass's __slots__, in positional order; DEFAULTS gives optional ones."""

    __slots__ = ()
    DEFAULTS = {}

    def __init__(self, *args, **kwargs):
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields, got {len(args)}")
        for name, value in zip(names, args):
            setattr(self, name, value)
        for name in names[len(args):]:
            if name in kwargs:
                setattr(self, name, kwargs.pop(name))
            elif name in self.DEFAULTS:
                setattr(self, name, self.DEFAULTS[name])
            else:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}: no field {next(iter(kwargs))!r}")

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


def value(name, fields, defaults=None):
    """A Value subclass named name with the space-separated fields, like namedtuple()."""
    return type(name, (Value,), {"__slots__": tuple(fields.split()), "DEFAULTS": defaults or {}})
