"""``Sequential``: torch's container; calling it calls each child in turn.

Children get torch's names (``"0"``, ``"1"``... or the keys of an ``OrderedDict``), so
``state_dict`` keys match torch's.

>>> from onnxlayers.builder import Input, Linear, ReLU
>>> seq = Sequential(Linear(4, 3), ReLU())
>>> sorted(seq.state_dict())
['0.bias', '0.weight']
>>> seq(Input("x", ("N", 4))).shape
('N', 3)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from ..errors import LayerTypeError
from ..layer import Layer


class Sequential(Layer):
    """``Sequential(*layers)`` or ``Sequential(OrderedDict(name=layer, ...))``."""

    def __init__(self, *args: Any, name: str | None = None) -> None:
        super().__init__(name=name)
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            items = [(str(k), v) for k, v in args[0].items()]
        else:
            items = [(str(i), v) for i, v in enumerate(args)]
        self._children: dict[str, Layer] = {}
        for key, layer in items:
            self.append_named(key, layer)

    def append_named(self, key: str, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise LayerTypeError(
                f"Sequential: child {key!r} is {layer!r}; expected an onnxlayers layer"
            )
        layer._parent = (self, key)
        self._children[key] = layer

    def append(self, layer: Layer) -> Sequential:
        """torch's ``append``: add ``layer`` at the end."""
        self.append_named(str(len(self._children)), layer)
        return self

    def children(self) -> Iterator[tuple[str, Layer]]:
        return iter(self._children.items())

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._children.values())

    def __getitem__(self, index: int) -> Layer:
        return list(self._children.values())[index]

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({k}): {v!r}" for k, v in self._children.items())
        return f"Sequential({inner}\n)" if inner else "Sequential()"

    def __call__(self, *inputs: Any, **call_args: Any) -> Any:
        out: Any = inputs[0] if len(inputs) == 1 else inputs
        for layer in self._children.values():
            out = layer(out)
        return out
