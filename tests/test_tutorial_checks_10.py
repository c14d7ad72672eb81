"""The exercise checks of notebook 10 fail a wrong answer with their hint and pass the model answer."""

import numpy as np

from tutorial_modules import checks


def _line(capsys):
    return capsys.readouterr().out.strip().splitlines()[-1]


def log_prob(probs, text, vocab):
    ids = vocab.encode(text)
    t = np.arange(len(text) - 1)
    return float(np.log(probs[t, ids[t + 1]]).sum())


def test_10_1_log_prob(capsys):
    checks.nb10_log_prob(log_prob)
    assert _line(capsys).startswith("✓ 10.1")

    def same_char(probs, text, vocab):
        ids = vocab.encode(text)
        return float(np.log(probs[np.arange(len(text) - 1), ids[:-1]]).sum())
    checks.nb10_log_prob(same_char)
    assert "score text[t + 1] with probs[t]" in _line(capsys)

    def mean(probs, text, vocab):
        return log_prob(probs, text, vocab) / (len(text) - 1)
    checks.nb10_log_prob(mean)
    assert "do not average" in _line(capsys)
    checks.nb10_log_prob(lambda probs, text, vocab: log_prob(probs, text, vocab) / np.log(2))
    assert "natural log" in _line(capsys)
    checks.nb10_log_prob(lambda probs, text, vocab: None)
    assert checks.NOT_ANSWERED in _line(capsys)


def vowel_feature(text):
    return np.array([ch in "aeiouAEIOU" for ch in text], dtype=np.float64)


def best_vowel_cell(states, feature):
    best = None
    for value, acts in states.items():
        for layer in range(acts.shape[1]):
            a, f = acts[:, layer] - acts[:, layer].mean(0), feature - feature.mean()
            r = a.T @ f / np.sqrt((a * a).sum(0) * (f * f).sum())
            cell = int(np.argmax(np.abs(r)))
            if best is None or abs(r[cell]) > abs(best[3]):
                best = (value, layer, cell, float(r[cell]))
    return best


def test_10_2_vowel_cell(capsys):
    checks.nb10_vowel_cell(vowel_feature, best_vowel_cell)
    assert _line(capsys).startswith("✓ 10.2")
    checks.nb10_vowel_cell(lambda text: np.array([ch in "aeiou" for ch in text], dtype=float), best_vowel_cell)
    assert "either case" in _line(capsys)

    def signed(states, feature):                       # ranks by r, not |r|
        best = None
        for value, acts in states.items():
            for layer in range(acts.shape[1]):
                for cell in range(acts.shape[2]):
                    r = float(np.corrcoef(acts[:, layer, cell], feature)[0, 1])
                    if best is None or r > best[3]:
                        best = (value, layer, cell, r)
        return best
    checks.nb10_vowel_cell(vowel_feature, signed)
    assert "rank by |r|" in _line(capsys)
    checks.nb10_vowel_cell(vowel_feature, lambda s, f: (*best_vowel_cell(s, f)[:3], 0.5))
    assert "Pearson r" in _line(capsys)
