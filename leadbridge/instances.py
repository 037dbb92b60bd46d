"""New model instances for the bulk paths, without Model.__init__'s per-field work.

`fresh(Model, **values)` gives what `Model(**values)` gives: every field's
default, then the values set through the model's own attributes (a foreign key
through its descriptor, as assignment does). The defaults come from a blank
instance made once per model and copied; a field whose default is callable
(dict, list, now) gets its own value each time. Model.__init__ looks up and sets
each field's default on every call: for the 70,000 instances a 10,000-lead bulk
request builds (leads, follow-ups, timeline entries) that was a third of the
request (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import functools

from django.db.models import Model
from django.db.models.base import ModelState


@functools.cache
def _blank(model: type[Model]) -> tuple[dict, tuple, frozenset]:
    blank = model()
    names = frozenset(name for f in model._meta.concrete_fields for name in (f.name, f.attname))
    per_call = tuple(
        f for f in model._meta.concrete_fields if f.has_default() and callable(f.default)
    )
    values = dict(blank.__dict__)
    del values["_state"]
    return values, per_call, names


def fresh[M: Model](model: type[M], **values) -> M:
    """model(**values), from a copy of the model's blank instance."""
    defaults, per_call, names = _blank(model)
    if not values.keys() <= names:
        return model(**values)  # raises for an unknown name, as Model() does
    obj = model.__new__(model)
    obj.__dict__.update(defaults)
    obj._state = ModelState()
    for field in per_call:
        obj.__dict__[field.attname] = field.get_default()
    for name, value in values.items():
        setattr(obj, name, value)
    return obj
