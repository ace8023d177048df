import os
import tempfile

# Tests must never reach the real Hub nor read or write the user's Hugging Face cache. huggingface_hub reads
# these when it is imported, so they are set before anything imports it (zoo included). The endpoint is a
# closed local port: a call that forgets `endpoint=` fails fast instead of going to huggingface.co.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="zoo-tests-hf-home-")
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
# These would override HF_HOME (caches, token) or the endpoint's reachability if the caller's shell sets them.
for _name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE", "HF_TOKEN", "HF_TOKEN_PATH",
              "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.pop(_name, None)

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.hub_server import HubServer  # noqa: E402
from zoo import core  # noqa: E402


@pytest.fixture
def ring():
    """The planning benchmark's data: 8 equal Gaussians on the unit circle, std 0.1."""
    return core.mixture.GaussianMixture.ring()


@pytest.fixture
def smooth_ring():
    """A smoother ring (std 0.3): samplers reach their asymptotic order at modest step counts."""
    return core.mixture.GaussianMixture.ring(std=0.3)


@pytest.fixture
def hub():
    """A fresh in-memory Hub on 127.0.0.1: pass `endpoint=hub.url`; `hub.requests` lists what it was asked."""
    with HubServer() as server:
        yield server


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    many small FFTs, matrix products or convolutions, where on a busy 2-core machine threads spin
    against other processes and cost more than they save."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
