"""The checks behind the notebooks' "Your turn" exercises.

An exercise is a code cell whose first line is `# Your turn N.K: what to do` (N the notebook, K the
exercise); it holds a blank to fill in (`...` or `raise NotImplementedError`). The cell after it calls one
function from here with the learner's answer. A check never raises: it prints one line (and returns nothing),
so a notebook still runs top to bottom with its exercises blank.

    ✓ 1.1 the backward of exp: matches finite differences to 1e-10
    ✗ 1.1 the backward of exp: not answered yet (replace the `...`)
    ✗ 1.1 the backward of exp: the gradient is off by a factor of x: did you multiply by the output?

Writing a check: decorate a function with @exercise("N.K title"); inside, `assert condition, "hint"`
for each thing the answer must get right, and return a short success message. The model answers live in
tutorials/solutions/NN_name.py, one block per exercise after a `# --- N.K` line; the tests run every
notebook with all answers filled in but one, and require every check to pass except that one, which must
print its failure (so no check is vacuous).
"""
import functools

PASS, FAIL = "✓", "✗"
NOT_ANSWERED = "not answered yet"


def exercise(title):
    """Decorator for a check: `title` is "N.K what it checks"; the function asserts with hints."""
    exercise_id = title.split()[0]

    def wrap(check):
        @functools.wraps(check)
        def run(*answer, **kwargs):
            try:
                if any(a is ... for a in answer):
                    raise NotImplementedError
                ok, message = True, check(*answer, **kwargs) or "correct"
            except NotImplementedError:
                ok, message = False, f"{NOT_ANSWERED} (fill in the `...` above, then run both cells)"
            except AssertionError as e:
                ok, message = False, str(e).split("\n")[0] or "not quite: compare with the text above"
            except Exception as e:                      # the learner's code failed: say how, not a traceback
                ok, message = False, f"your code raised {type(e).__name__}: {e}"
            print(f"{PASS if ok else FAIL} {title}: {message}")
        run.exercise_id, run.title = exercise_id, title
        return run
    return wrap


def blank(*args, **kwargs):
    """What an unanswered exercise function does: raise NotImplementedError (a check reports it kindly)."""
    raise NotImplementedError


# ----------------------------------------------------------------------------- the checks, notebook by notebook
# Each notebook's checks live in their own section below, in the order the exercises appear.
