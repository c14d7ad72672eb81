"""nn.utils: gradient clipping (clip_grad.py) and packed sequences for recurrent layers (rnn.py)."""
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
