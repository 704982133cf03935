"""typing's TYPE_CHECKING and NamedTuple, without importing typing at run time.

Every ``fastping`` command pays its imports anew, and typing's were the largest share: the
module itself (with re and contextlib, 42 M instructions) and its NamedTuple, which compiles
every field's annotation into a ForwardRef (13 M instructions for a class of 11 fields). At
run time NamedTuple here makes the same class from the same syntax (collections.namedtuple
with the fields, defaults, methods, docstring and annotations, as strings), so records keep
their fields, repr, pickling and isinstance behaviour; type checkers see typing's own.
"""

from __future__ import annotations

TYPE_CHECKING = False  # what type checkers take as True, as they take typing's

if TYPE_CHECKING:
    from typing import NamedTuple
else:
    class _NamedTupleMeta(type):
        def __new__(cls, name, bases, namespace):
            from collections import namedtuple  # (collections: with the first record)

            fields = namespace.get("__annotations__", {})
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field not in namespace for field in list(fields)[len(fields) - len(defaults):]):
                raise TypeError(f"{name}: a field without a default follows one with one")
            record = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
            record.__annotations__ = record.__new__.__annotations__ = fields
            for key, value in namespace.items():
                if key not in fields and key not in ("__module__", "__annotations__"):
                    setattr(record, key, value)
            return record

    # `class Record(NamedTuple)` calls the metaclass, which returns a namedtuple class, as
    # typing's does: records are tuples, not subclasses of this.
    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})

__all__ = ["TYPE_CHECKING", "NamedTuple"]
