"""Every sequence shape as a small model class with its training function (public minigrad API only).

    many-to-one    SequenceClassifier  + train_classifier   final states of both directions -> dense
    many-to-many   SequenceTagger      + train_tagger       one label per step
    one-to-many    SequenceGenerator   + train_generator    a context vector as an extra bias at every step
    seq2seq        Seq2Seq             + train_seq2seq      encoder state -> decoder, teacher forcing; optional
                                                            attention over the encoder's outputs; decode
"""
from .attention import Attention, padding_mask
from .classifier import SequenceClassifier, classifier_loss, train_classifier
from .common import (CELLS, DEFAULT_LR, OPTIMIZERS, TokenInput, fit, last_layer_final, make_optimizer, make_rnn,
                     set_forget_bias)
from .generator import SequenceGenerator, generator_loss, teacher_inputs, train_generator
from .seq2seq import Seq2Seq, seq2seq_loss, train_seq2seq
from .tagger import IGNORE, SequenceTagger, tagger_loss, train_tagger
