"""Packaging for beyondgloss: the BeyondGloss gloss-free sign language translation models."""

from setuptools import find_packages, setup

install_requires = [
    "torch>=2.4,<=2.14.1",
    "torchvision>=0.19,<=0.29.1",
    "transformers>=5.0,<6",
    "datasets>=4.0",
    "accelerate>=1.2",
    "peft>=0.15",
    "evaluate>=0.4.3",
    "sacrebleu>=2.4",
    "safetensors>=0.4",
    "sentencepiece>=0.2",
    "tokenizers>=0.21",
    "av>=13",
    "numpy>=1.26",
    "pillow>=10",
    "tqdm>=4.66",
    "matplotlib>=3.8",
    "tensorboard>=2.16",
]

extras = {
    "deepspeed": ["deepspeed>=0.16"],
    "hands": ["mediapipe==0.10.14"],
    "test": ["pytest>=8", "pytest-timeout>=2.3"],
}
extras["all"] = sorted({req for group in ("deepspeed", "hands", "test") for req in extras[group]})

setup(
    name="beyondgloss",
    version="0.1.0",
    description="BeyondGloss: hand-centric gloss-free sign language translation, native to Hugging Face transformers",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["modeling_beyondgloss", "modeling_beyondgloss.*", "datasets_scripts", "datasets_scripts.*"]),
    py_modules=["run_pretrain", "run_translation"],
    install_requires=install_requires,
    extras_require=extras,
)
