import json
import os
import sys
from pathlib import Path

import datasets
import pytest


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The fixtures shipped with the repository: the three real ASL clips (CC BY 4.0, see its README)."""
    return REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="session")
def phoenix14t_dev_labels() -> Path:
    """The Phoenix14T dev labels, kept beside the repository (CC BY-NC-SA 3.0: not redistributed with it)."""
    path = SHARED_DIR / "fixtures" / "phoenix14t" / "labels.dev"
    if not path.is_file():
        pytest.skip(f"Phoenix14T labels (CC BY-NC-SA 3.0, not shipped in the repository) are absent: expected {path}.")
    return path


@pytest.fixture(autouse=True)
def quiet_progress_bars():
    """`datasets` progress bars would flood the test logs."""
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


@pytest.fixture(scope="session")
def tiny_describer_models(tmp_path_factory) -> tuple[str, str]:
    """Paths of a tiny random Qwen2.5-VL and a tiny instruction model for the description tool."""
    from tiny_describers import build_tiny_describers

    return build_tiny_describers(tmp_path_factory.mktemp("describers"))


@pytest.fixture(scope="session")
def synthsign_corpus(tmp_path_factory) -> dict[str, str]:
    """A small SynthSign corpus with a random description encoder, shared by the training-script tests."""
    from datasets_scripts.preprocessing.description_embeddings import save_random_text_encoder
    from datasets_scripts.synthsign import generate_synthsign

    root = tmp_path_factory.mktemp("corpus")
    generate_synthsign(root / "synthsign", seed=0, num_train=8, num_dev=4, num_test=4, resolution=64, num_workers=1)
    descriptions = [
        json.loads(path.read_text())["refined"]
        for path in sorted((root / "synthsign" / "descriptions").rglob("*.json"))
    ]
    encoder = save_random_text_encoder(str(root / "description_encoder"), descriptions, hidden_size=32)
    return {"data_dir": str(root / "synthsign"), "cache_dir": str(root / "cache"), "encoder": encoder}
