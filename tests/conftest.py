"""Session-wide test settings and the fixtures several test modules share (their helper functions live
in tests/helpers/)."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_text_embedding_cache(tmp_path_factory):
    """Tests (and the CLIs they start) cache caption embeddings in a fresh directory, never in the
    user's ~/.cache, so a run neither depends on nor changes what earlier runs left there."""
    old = os.environ.get("ROPAR_TEXT_CACHE")
    os.environ["ROPAR_TEXT_CACHE"] = str(tmp_path_factory.mktemp("text-embeddings"))
    yield
    if old is None:
        os.environ.pop("ROPAR_TEXT_CACHE", None)
    else:
        os.environ["ROPAR_TEXT_CACHE"] = old


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on a shared CPU more threads only fight each other (and run far
    slower). Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def gen():
    """A tiny randomly initialised Generator (tests/helpers/tiny_model.py), one per test module."""
    from tests.helpers.tiny_model import tiny_generator

    return tiny_generator()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """A tiny synthetic noisy cache for the trainers (tests/helpers/training_data.py)."""
    from tests.helpers.training_data import write_training_cache

    return write_training_cache(tmp_path_factory.mktemp("cache") / "noisy")


@pytest.fixture(scope="module")
def pvae_dir(cache_dir, tmp_path_factory):
    """A P-VAE trained for 6 steps on `cache_dir` through the command line."""
    from tests.helpers.training_data import TINY
    from training.train.train_pvae import main

    out = tmp_path_factory.mktemp("pvae")
    assert main(["--data", str(cache_dir), "--out", str(out), "--steps", "6", "--ckpt-every", "3",
                 "--eval-every", "6", *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def sources():
    """content -> Clip of the four real Bandai clips in tests/data/bandai."""
    from tests.helpers.noise_data import fixture_sources

    return fixture_sources()


@pytest.fixture(scope="module")
def clean_dir(tmp_path_factory, sources):
    """A clean cache of 32 windows cut from the four real clips (tests/helpers/noise_data.py)."""
    from tests.helpers.noise_data import write_clean_windows

    return write_clean_windows(tmp_path_factory.mktemp("noise") / "clean", sources)


@pytest.fixture(scope="module")
def registered_addon():
    """The add-on registered in the bpy module for one test module, unregistered after it."""
    import bpy

    import blender_addon

    blender_addon.register()
    yield
    if hasattr(bpy.types.Scene, "ropar"):
        blender_addon.unregister()


@pytest.fixture
def blender_scene():
    """An empty scene at 20 fps (frames 1-250) with the fake backend; the job queue emptied after."""
    import bpy

    from blender_addon import jobs
    from blender_addon.backend import FakeBackend

    bpy.ops.wm.read_homefile(use_empty=True)
    sc = bpy.context.scene
    sc.render.fps, sc.render.fps_base = 20, 1.0
    sc.frame_start, sc.frame_end = 1, 250
    jobs.set_backend_override(FakeBackend())
    yield sc
    jobs.shutdown()
    jobs.set_backend_override(None)
