"""Every layer module; importing this package registers all layer types."""

from .activations import LeakyReLU, PReLU, ReLU, Sigmoid, Tanh
from .flatten import Flatten
from .linear import Linear
from .rrelu import RReLU
from .sequential import Sequential

__all__ = [
    "Flatten",
    "LeakyReLU",
    "Linear",
    "PReLU",
    "RReLU",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
]
