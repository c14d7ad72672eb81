"""Neural-network building blocks: Module, Parameter, layers, activations, losses, recurrent cells and layers."""
from . import functional, init, utils
from .activation import Identity, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .cell_modules import CellModule, GRUCell, LSTMCell, RNNCell
from .cells import Cell, ElmanCell, GRUGatedCell, LSTMGatedCell
from .layers import Dropout, Embedding, LayerNorm, Linear, ModuleList, Sequential
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, Recurrent, unrolled
