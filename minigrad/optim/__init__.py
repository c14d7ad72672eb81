"""Optimizers with PyTorch's constructor arguments and update rules."""
