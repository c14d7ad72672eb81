# Model answers for tutorials/09_gpu_backend.ipynb: each block replaces its exercise cell's body.

# --- 9.1
def zero_state(x, hidden):
    return mg.zeros(x.shape[0], hidden, device=x.device, dtype=x.dtype)

# --- 9.2
def load_on(path, device):
    model = TinyLM()
    model.load_state_dict(mg.load(path))
    return model.to(device)
