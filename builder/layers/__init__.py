"""Every layer module; importing this package registers all layer types.

>>> from onnxlayers.builder.registry import LAYERS
>>> sorted(LAYERS)[:4]
['Add', 'AvgPool2d', 'Flatten', 'LeakyReLU']
"""

from .activations import LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from .add import Add
from .flatten import Flatten
from .linear import Linear
from .pooling import AvgPool2d, MaxPool2d
from .rrelu import RReLU
from .sequential import Sequential
from .unpool import MaxUnpool2d

__all__ = [
    "Add",
    "AvgPool2d",
    "Flatten",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "MaxUnpool2d",
    "PReLU",
    "RReLU",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
]
