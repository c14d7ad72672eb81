"""Packed sequences (PyTorch's nn.utils.rnn): a batch of sequences of different lengths without padding.

Placeholder module: the packed-sequence functions land here (pad_sequence, pack_padded_sequence,
pad_packed_sequence, pack_sequence, PackedSequence, and run_packed used by nn.RNN/LSTM/GRU).
"""
