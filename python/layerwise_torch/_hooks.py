"""The callables put into the model's hook dictionaries, which a copy or a pickle of the model
does not carry along.

A forward hook lives in its module's ``_forward_hooks``, so ``copy.deepcopy(model)`` (a best-model
snapshot, an EMA teacher) and ``torch.save(model)`` copied or pickled the run behind it (its file,
its random generator) and failed. ``Hook`` becomes ``inert`` in a copy or a pickle: the copy is not
watched, and loading the pickle needs only this module.
"""


def inert(*args, **kwargs):
    """What a copy of the model keeps in place of our hooks: nothing is recorded or changed."""
    return None


def _inert():
    return inert


class Hook:
    """fn as a module hook; in a deep copy or a pickle of the model, ``inert``."""
    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __deepcopy__(self, memo):
        return inert

    def __copy__(self):
        return self

    def __reduce__(self):
        return _inert, ()
