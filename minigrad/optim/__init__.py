"""Optimizers with PyTorch's constructor arguments and update rules, and learning-rate schedules."""
from .optimizer import Optimizer
from .sgd import SGD
from .adagrad import Adagrad
from .rmsprop import RMSprop
from .adam import Adam
from . import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "lr_scheduler"]
