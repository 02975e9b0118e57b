"""RoPAR core library: skeleton, features, credibility, P-VAE, RoPAR, Generator, CLI, server."""

__version__ = "0.1.0"

__all__ = ["Generator", "__version__"]


def __getattr__(name):
    # Lazy: importing ropar_core must not import torch (the Blender add-on and `ropar convert` rely on it).
    if name == "Generator":
        from ropar_core.generator import Generator

        return Generator
    raise AttributeError(name)
