"""viz.plot_attention: the heatmap's pixels are the weights, its ticks the tokens; mismatched shapes are errors."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minigrad as mg  # noqa: E402
import viz  # noqa: E402
from models.shapes import Seq2Seq  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_the_image_is_the_weights_and_the_ticks_are_the_tokens():
    w = np.random.default_rng(0).dirichlet(np.ones(4), size=3)            # 3 target x 4 source, rows sum to 1
    fig = viz.plot_attention(w, ["a", "b", "c", "<pad>"], [7, 8, 9])
    ax = fig.axes[0]
    image = ax.get_images()[0]
    np.testing.assert_array_equal(image.get_array(), w)
    assert image.get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "<pad>"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["7", "8", "9"]
    np.testing.assert_array_equal(ax.get_xticks(), range(4))
    np.testing.assert_array_equal(ax.get_yticks(), range(3))
    assert len(fig.axes) == 2                                               # the heatmap and its colorbar


def test_a_models_weights_draw_into_given_axes():
    mg.manual_seed(0)
    model = Seq2Seq(5, 5, embed=4, hidden=6, bidirectional=True, attention="additive")
    src = np.array([[1, 2, 3, 0]])
    _, w = model(src, [[model.bos, 3, 2]], [3], return_attention=True)
    fig, (left, right) = plt.subplots(1, 2)
    out = viz.plot_attention(w[0, :, :3], ["1", "2", "3"], ["3", "2", "1"], ax=right, colorbar=False, title=None)
    assert out is fig and right.get_images() and not left.get_images()
    np.testing.assert_array_equal(right.get_images()[0].get_array(), w.numpy()[0, :, :3])


def test_shape_mismatches_are_errors_that_say_what_differs():
    w = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"weights of shape \(2, 3\) do not match 2 target_tokens x 4 source_tokens"):
        viz.plot_attention(w, list("abcd"), list("xy"))
    with pytest.raises(ValueError, match=r"weights of shape \(2, 3\) do not match 3 target_tokens x 3 source_tokens"):
        viz.plot_attention(w, list("abc"), list("xyz"))
    with pytest.raises(ValueError, match=r"must be 2-D .* got shape \(1, 2, 3\); pick one: weights\[b\]"):
        viz.plot_attention(w[None], list("abc"), list("xy"))
    with pytest.raises(TypeError, match="source_tokens must be a sequence of tokens"):
        viz.plot_attention(w, "abc", list("xy"))
    with pytest.raises(TypeError, match="target_tokens must be a sequence of tokens"):
        viz.plot_attention(w, list("abc"), 5)
