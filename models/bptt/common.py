"""What the three recurrent cells share: their parameters, the softmax output layer and its gradient.

Plain NumPy on purpose: this package re-derives backpropagation through time by hand, so it must not
borrow anything from minigrad's autograd, which it exists to check.

Notation used in every file of the package (one batch row shown; the code works on B rows at once):

    x_t   (D,)  input at step t = 1..T          h_t  (H,)  hidden state, h_0 given
    o_t = V h_t + c                 (K,)        logits of the output layer
    p_t = softmax(o_t)              (K,)        predicted distribution over K classes
    L   = sum_t -log p_t[y_t]                   many-to-many: a target at every step
    L   = -log p_T[y]                           many-to-one: a target at the last step only

The gradient of L with respect to the logits is the classic "prediction minus truth":

    dL/do_t = p_t - onehot(y_t)

because d(-log p_t[y]) / do_t[k] = p_t[k] - [k == y]. Everything else follows from the chain rule.
"""
import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}      # rows of weight_ih per hidden unit: G in (G*H, D)
CELL_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def sigmoid(a):
    """sigma(a) = 1 / (1 + exp(-a)), written as (1 + tanh(a/2)) / 2 so no exp can overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def init_params(cell, input_size, hidden_size, output_size, seed=0, dtype=np.float64):
    """Random parameters for `cell` ('rnn', 'lstm' or 'gru'), drawn like PyTorch: uniform(-1/sqrt(H), 1/sqrt(H)).

    Returns {'weight_ih': (G*H, D), 'weight_hh': (G*H, H), 'bias_ih': (G*H,), 'bias_hh': (G*H,),
    'V': (K, H), 'c': (K,)}: the cell's names are PyTorch's, V and c belong to the output layer.
    """
    if cell not in GATES:
        raise ValueError(f"init_params: unknown cell {cell!r}; expected one of {sorted(GATES)}")
    G, D, H, K = GATES[cell], input_size, hidden_size, output_size
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(H)
    shapes = {"weight_ih": (G * H, D), "weight_hh": (G * H, H), "bias_ih": (G * H,), "bias_hh": (G * H,),
              "V": (K, H), "c": (K,)}
    return {name: rng.uniform(-bound, bound, size=shape).astype(dtype) for name, shape in shapes.items()}


def check_inputs(fn, cell, params, x, y, states, many_to_one):
    """Raise a ValueError/TypeError naming `fn` when shapes or dtypes do not fit together.

    states: {'h0': array, ...} initial states, each expected as (B, H).
    """
    missing = [n for n in CELL_NAMES + ("V", "c") if n not in params]
    if missing:
        raise ValueError(f"{fn}: params is missing {missing}; expected keys {list(CELL_NAMES) + ['V', 'c']}")
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[0] < 1 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{fn}: x must be a float array of shape (T, B, D) with T >= 1; "
                         f"got shape {x.shape}, dtype {x.dtype}")
    T, B, D = x.shape
    G = GATES[cell]
    GH, H = params["weight_hh"].shape[0], params["weight_hh"].shape[-1]
    expected = {"weight_ih": (G * H, D), "weight_hh": (G * H, H), "bias_ih": (G * H,), "bias_hh": (G * H,),
                "V": (params["V"].shape[0], H), "c": (params["V"].shape[0],)}
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise ValueError(f"{fn}: params[{name!r}] has shape {params[name].shape}; expected {shape} "
                             f"for a {cell.upper()} with input size D={D}, hidden size H={H} ({G} gate(s))")
    if GH != G * H:
        raise ValueError(f"{fn}: weight_hh has {GH} rows; a {cell.upper()} needs {G} * H = {G * H}")
    y = np.asarray(y)
    want = (B,) if many_to_one else (T, B)
    if y.shape != want or not np.issubdtype(y.dtype, np.integer):
        kind = "many-to-one: one target per sequence" if many_to_one else "many-to-many: one target per step"
        raise ValueError(f"{fn}: y must be an int array of shape {want} ({kind}); got shape {y.shape}, dtype {y.dtype}")
    K = params["V"].shape[0]
    if y.size and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"{fn}: targets must lie in [0, {K}) (K = rows of V); got min {y.min()}, max {y.max()}")
    for name, s in states.items():
        if np.shape(s) != (B, H):
            raise ValueError(f"{fn}: {name} must have shape (B, H) = {(B, H)}; got {np.shape(s)}")
    return x, y


def output_forward(params, hs, y, many_to_one):
    """Logits o_t = V h_t + c, probabilities p_t = softmax(o_t), loss L = sum_t sum_b -log p_t[y_t].

    hs (T, B, H): the hidden states h_1..h_T. y: (T, B), or (B,) when many_to_one (only h_T is scored).
    Returns (L, p) with p of shape (T, B, K), or (1, B, K) for many-to-one.
    """
    scored = hs[-1:] if many_to_one else hs               # the steps that carry a loss
    targets = y[None] if many_to_one else y               # (T', B)
    o = scored @ params["V"].T + params["c"]              # (T', B, K)
    o = o - o.max(axis=-1, keepdims=True)                 # softmax(o) = softmax(o - max): no overflow
    log_p = o - np.log(np.exp(o).sum(axis=-1, keepdims=True))
    loss = -np.take_along_axis(log_p, targets[..., None], axis=-1).sum()
    return loss, np.exp(log_p)


def output_backward(params, hs, p, y, many_to_one):
    """Gradients of the output layer and the part of dL/dh_t that comes straight from o_t.

        dL/do_t = p_t - onehot(y_t)
        dL/dV   = sum_t dL/do_t^T h_t          (K, H): summed over time and batch
        dL/dc   = sum_t dL/do_t                 (K,)
        dL/dh_t (from the output) = V^T dL/do_t, i.e. dL/do_t @ V for row vectors; zero at steps
                                    without a target (all but the last one for many-to-one)
    Returns (dV, dc, dh_out) with dh_out of shape (T, B, H).
    """
    scored = hs[-1:] if many_to_one else hs
    targets = y[None] if many_to_one else y
    K = params["V"].shape[0]
    do = p - np.eye(K, dtype=p.dtype)[targets]            # (T', B, K)
    dV = np.einsum("tbk,tbh->kh", do, scored)
    dc = do.sum(axis=(0, 1))
    dh_out = np.zeros_like(hs)
    dh_out[-len(do):] = do @ params["V"]
    return dV, dc, dh_out
