"""`make demo`: a first look at minigrad (replaced by the char-RNN demo once the models exist)."""
import minigrad as mg


def main():
    mg.manual_seed(0)
    x = mg.randn(4, 3, requires_grad=True)
    w = mg.randn(3, 2, requires_grad=True)
    loss = (x @ w).tanh().sum()
    loss.backward()
    print("loss:", loss.item())
    print("dloss/dw:\n", w.grad.numpy())
    x64, w64 = x.double().detach().requires_grad_(), w.double().detach().requires_grad_()
    print("gradcheck:", mg.gradcheck(lambda a, b: (a @ b).tanh(), [x64, w64]))


if __name__ == "__main__":
    main()
