"""mnist-tui: train small CNNs on MNIST in the terminal and look inside them."""

__version__ = "0.1.0"
