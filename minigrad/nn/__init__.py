"""Neural-network building blocks: Module, Parameter, layers, recurrent cells and layers."""
from . import functional, init, utils
from .cell_modules import CellModule, GRUCell, LSTMCell, RNNCell
from .cells import Cell, ElmanCell, GRUGatedCell, LSTMGatedCell
from .layers import Dropout, Embedding, Linear, ModuleList, Sequential
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, Recurrent, unrolled
