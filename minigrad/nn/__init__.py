"""Neural-network building blocks: Module, Parameter, layers, recurrent cells and layers."""
from .parameter import Parameter
