"""Character-level language model (min-char-rnn and char-rnn, done properly).

    python -m models.char_lm train --out runs/shakespeare [--cell lstm --layers 2 --hidden 128 --unroll ...]
    python -m models.char_lm sample --checkpoint runs/shakespeare [--length 500 --temperature 0.8]
"""
from .data import DEFAULT_CORPUS, Batches, Vocab, load_text, split
from .model import CharLM, detach_state
from .sample import load_model, next_char_distribution, sample
from .train import TrainConfig, TrainingDiverged, evaluate, load_checkpoint, save_checkpoint, train
