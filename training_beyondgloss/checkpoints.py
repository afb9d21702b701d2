"""Intermediate checkpoints that hold what trains.

DINOv2 and mBART are frozen apart from their LoRA adapters, so most of a model's weights never change during a run.
An intermediate `checkpoint-*` therefore stores, in `trainable_model.safetensors`, only the trained parameters
(`requires_grad`) and the buffers (the batch norm's running statistics change as it trains), next to the optimizer,
scheduler, RNG and trainer states the Trainer writes as usual. The file's metadata records where the frozen weights
come from (`--model_name_or_path`, the seed of a random initialisation, ...) and, for each frozen tensor, its dtype,
shape and SHA-256. Resuming takes the frozen weights from the model the script built again from the same source,
checks them against that record and refuses, naming the file, when they are missing or differ.

The final model in `--output_dir` is saved whole, as before: it loads with one `from_pretrained`.
"""

import errno
import hashlib
import json
import os

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


__all__ = [
    "FROZEN_WEIGHTS_KEY",
    "SOURCE_KEY",
    "TRAINABLE_WEIGHTS_NAME",
    "FrozenWeightsFingerprint",
    "check_sources_exist",
    "load_trainable_weights",
    "missing_sources",
    "read_metadata",
    "save_trainable_weights",
    "trainable_state_dict",
    "weights_source",
]

TRAINABLE_WEIGHTS_NAME = "trainable_model.safetensors"
FROZEN_WEIGHTS_KEY = "beyondgloss_frozen_weights"
SOURCE_KEY = "beyondgloss_frozen_weights_source"


def _tensor_bytes(tensor: torch.Tensor):
    """The raw bytes of `tensor` (any dtype, bf16 included) as a NumPy uint8 array, without a copy on the CPU."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy()


def _frozen_parameters(model) -> dict[str, torch.Tensor]:
    return {name: parameter for name, parameter in model.named_parameters() if not parameter.requires_grad}


def trainable_state_dict(model) -> dict[str, torch.Tensor]:
    """The trained parameters and every persistent buffer of `model`, as `state_dict()` names them (a tensor tied
    under several names is kept once)."""
    trained = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    parameter_names = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    state = model.state_dict()
    kept = {name: tensor for name, tensor in state.items() if name in trained or name not in parameter_names}
    return {name: tensor.detach().to("cpu").contiguous() for name, tensor in kept.items()}


class FrozenWeightsFingerprint:
    """Dtype, shape and SHA-256 of each frozen parameter of a model. The hashes are kept and computed again only for
    a tensor that was replaced or changed in place (its storage or version counter moved), so that each save after
    the first costs nothing."""

    def __init__(self):
        self._cache = {}

    def __call__(self, model) -> dict[str, list]:
        fingerprint = {}
        for name, parameter in _frozen_parameters(model).items():
            key = (parameter.data_ptr(), parameter._version, parameter.dtype, tuple(parameter.shape))
            cached = self._cache.get(name)
            if cached is None or cached[0] != key:
                digest = hashlib.sha256(_tensor_bytes(parameter)).hexdigest()
                cached = self._cache[name] = (key, [str(parameter.dtype).removeprefix("torch."),
                                                    list(parameter.shape), digest])
            fingerprint[name] = cached[1]
        return fingerprint


def save_trainable_weights(model, output_dir: str, source: dict, fingerprint: FrozenWeightsFingerprint) -> str:
    """Write `trainable_model.safetensors` into `output_dir`, with the record of the frozen weights; its path."""
    path = os.path.join(output_dir, TRAINABLE_WEIGHTS_NAME)
    metadata = {
        "format": "pt",
        SOURCE_KEY: json.dumps(source, sort_keys=True),
        FROZEN_WEIGHTS_KEY: json.dumps(fingerprint(model), sort_keys=True),
    }
    save_file(trainable_state_dict(model), path, metadata=metadata)
    return path


def read_metadata(path: str) -> dict:
    """The frozen-weight record of a `trainable_model.safetensors`: `{"source": {...}, "frozen": {...}}`; raises
    `ValueError` naming the file when the record is absent or does not parse."""
    with safe_open(path, framework="pt") as handle:
        metadata = handle.metadata() or {}
    try:
        return {"source": json.loads(metadata[SOURCE_KEY]), "frozen": json.loads(metadata[FROZEN_WEIGHTS_KEY])}
    except (KeyError, ValueError) as error:
        raise ValueError(f"{path} has no readable record of the frozen weights it needs ({error!r})") from error


def describe_source(source: dict) -> str:
    described = [
        f"{key}={value}" for key, value in sorted(source.items()) if key != "local_paths" and value is not None
    ]
    return ", ".join(described) or "an unknown source"


def weights_source(seed: int | None = None, **sources) -> dict:
    """The record of where a model's weights come from: the given names or paths (local ones made absolute and
    listed under `local_paths`) and the seed of whatever was initialised at random."""
    recorded = {key: value for key, value in sources.items() if value is not None}
    local = {
        key: os.path.abspath(value) for key, value in recorded.items()
        if isinstance(value, str) and os.path.exists(value)
    }
    recorded.update(local)
    return {**recorded, "seed": seed, "local_paths": sorted(set(local.values()))}


def check_sources_exist(checkpoint: str, current: dict) -> None:
    """Refuse, before a model is built, to resume from a trimmed `checkpoint` whose frozen weights came from a local
    file or folder that no longer exists when this run is about to take them from the same place (`current` is this
    run's `weights_source`)."""
    path = os.path.join(checkpoint, TRAINABLE_WEIGHTS_NAME)
    if not os.path.isfile(path):
        return
    recorded = read_metadata(path)["source"]
    local_paths = set(recorded.get("local_paths", []))
    for key, value in sorted(recorded.items()):
        if not isinstance(value, str) or value not in local_paths or os.path.exists(value):
            continue
        now = current.get(key)
        if now is None or os.path.abspath(now) == value:
            raise FileNotFoundError(
                errno.ENOENT,
                f"{path} holds only the trained weights; its frozen weights come from {key}={value}, which no longer "
                f"exists. Put it back, or resume with a --{key} that holds the same weights",
                value,
            )


def missing_sources(path: str) -> list[str]:
    """The local files or folders the frozen weights of the checkpoint file `path` came from that no longer exist."""
    source = read_metadata(path)["source"]
    return [value for value in source.get("local_paths", []) if not os.path.exists(value)]


def _frozen_weight_problems(model, recorded: dict, fingerprint: FrozenWeightsFingerprint) -> list[str]:
    current = fingerprint(model)
    problems = []
    absent = sorted(set(recorded) - set(current))
    extra = sorted(set(current) - set(recorded))
    if absent:
        problems.append(f"{len(absent)} frozen tensor(s) it records are not frozen parameters of the model, e.g. "
                        f"{absent[:3]}")
    if extra:
        problems.append(f"{len(extra)} frozen parameter(s) of the model are not in its record, e.g. {extra[:3]}")
    reshaped = [name for name in sorted(set(recorded) & set(current)) if recorded[name][:2] != current[name][:2]]
    if reshaped:
        name = reshaped[0]
        problems.append(f"{len(reshaped)} frozen tensor(s) differ in dtype or shape, e.g. {name}: "
                        f"{recorded[name][:2]} recorded, {current[name][:2]} in the model")
    differing = [
        name for name in sorted(set(recorded) & set(current))
        if recorded[name][:2] == current[name][:2] and recorded[name][2] != current[name][2]
    ]
    if differing:
        problems.append(f"{len(differing)} of {len(recorded)} frozen tensor(s) hold other values, e.g. "
                        f"{differing[:3]}")
    return problems


def load_trainable_weights(model, checkpoint: str, fingerprint: FrozenWeightsFingerprint) -> None:
    """Load the trained weights of `checkpoint` into `model`, whose frozen weights must be those the checkpoint
    records; raises `ValueError` naming the file and what differs otherwise."""
    path = os.path.join(checkpoint, TRAINABLE_WEIGHTS_NAME)
    record = read_metadata(path)
    advice = (
        f"It holds only the trained weights; the frozen ones come from {describe_source(record['source'])}. Resume "
        "with the same --model_name_or_path (and --seed, for a random initialisation) as the run that wrote it."
    )
    problems = _frozen_weight_problems(model, record["frozen"], fingerprint)
    state_dict = load_file(path, device="cpu")
    expected = trainable_state_dict(model)
    absent = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if absent:
        problems.append(f"{len(absent)} trained tensor(s) of the model are not in it, e.g. {absent[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} of its tensors are not trained tensors of the model, e.g. "
                        f"{unexpected[:3]}")
    reshaped = [
        name for name in sorted(set(expected) & set(state_dict)) if expected[name].shape != state_dict[name].shape
    ]
    if reshaped:
        problems.append(f"{len(reshaped)} tensor(s) differ in shape from the model's, e.g. {reshaped[0]}: "
                        f"{tuple(state_dict[reshaped[0]].shape)} against {tuple(expected[reshaped[0]].shape)}")
    if problems:
        gone = missing_sources(path)
        if gone:
            advice += f" ({', '.join(gone)} no longer exists.)"
        raise ValueError(f"Cannot resume from {path}: " + "; ".join(problems) + f". {advice}")
    model.load_state_dict(state_dict, strict=False)
