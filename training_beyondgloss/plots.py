"""Plots of a training run."""

import logging


logger = logging.getLogger(__name__)


def plot_loss_terms(log_history: list[dict], output_path: str) -> str | None:
    """Plot the training loss and each logged loss term over steps (PNG); returns the path, or None if nothing was
    logged or matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        logger.warning("No loss plot: matplotlib is not installed (pip install 'beyondgloss[logging]').")
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for entry in log_history:
        if "step" not in entry or "loss" not in entry:
            continue
        for key in ("loss", "loss_align", "loss_desc", "loss_hand"):
            if key in entry:
                series.setdefault(key, ([], []))
                series[key][0].append(entry["step"])
                series[key][1].append(entry[key])
    if not series:
        return None
    figure, axis = plt.subplots(figsize=(7, 4))
    labels = {"loss": "total", "loss_align": "L_align (video-text)", "loss_desc": "L_desc (description)",
              "loss_hand": "L_distill (hand features)"}
    for key, (steps, values) in series.items():
        axis.plot(steps, values, label=labels[key], linewidth=2 if key == "loss" else 1.2)
    axis.set_xlabel("step")
    axis.set_ylabel("training loss")
    axis.set_title("BeyondGloss pre-training losses")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(output_path, dpi=110)
    plt.close(figure)
    return output_path
