"""A web app for a BeyondGloss translation model: translate a sign language clip, or subtitle a whole video.

    python app.py                                   # the demo's model, outputs/demo/video_translation
    python app.py --model path/or/hub-id --port 7860
    BEYONDGLOSS_MODEL=path/or/hub-id make app

The same folder is a Hugging Face Space (Gradio SDK: `app.py`, `requirements.txt`, `packages.txt`); there the model
comes from the `BEYONDGLOSS_MODEL` variable. Translation goes through the package's `sign-language-translation`
pipeline, and long videos through the sliding windows and subtitle cues of `beyondgloss-translate`, so the page, the
pipeline and the command line give the same text. Two named API endpoints serve the same functions
(`/translate`, `/subtitles`; see "Use via API" at the bottom of the page, or `gradio_client`).
"""

import argparse
import logging
import os
import re
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import gradio as gr
import psutil

from datasets_scripts.media import InvalidFileError, probe_video, video_frame_rate
from modeling_beyondgloss.cli_translate import load_translator, subtitle_cues, to_srt, translate_windows


logger = logging.getLogger("beyondgloss.app")

REPO_ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = "outputs/demo/video_translation"
MODEL_ENV = "BEYONDGLOSS_MODEL"
MAX_SECONDS_ENV = "BEYONDGLOSS_MAX_VIDEO_SECONDS"
DEFAULT_MAX_SECONDS = 600.0
EXAMPLES_DIR = REPO_ROOT / "outputs" / "app_examples"
FIXTURE_CLIPS = sorted((REPO_ROOT / "tests" / "fixtures" / "videos").glob("*.mp4"))
DEMO_TEST_CLIPS = REPO_ROOT / "outputs" / "demo" / "synthsign" / "videos" / "test"
# The only folders the page serves files from besides its uploads: those of the example clips.
EXAMPLE_FOLDERS = [str(REPO_ROOT / "tests" / "fixtures" / "videos"), str(DEMO_TEST_CLIPS), str(EXAMPLES_DIR)]
# Requests served at once: each holds a decoded clip and the activations of one forward pass besides the shared
# weights; more than 4 at once only queue up for the same CPU cores.
MAX_CONCURRENCY = 4


class Translator:
    """The model behind the page, loaded once; `error` says why there is none."""

    def __init__(self, model: str):
        self.model = model
        self.pipeline = None
        self.error = None
        # The page's decoding defaults: the model's generation config, else the pipeline's (5 beams, 150 tokens).
        self.num_beams, self.max_new_tokens = 5, 150
        # A Hub id is `name` or `owner/name`; anything else that does not exist is a missing folder.
        if not Path(model).exists() and not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", model):
            self.error = (
                f"No model at `{model}`. Make the demo's model with `make demo` (about 9 minutes on 2 CPU cores), "
                f"or start the app with `python app.py --model DIR_OR_HUB_ID` (or set {MODEL_ENV})."
            )
            return
        try:
            self.pipeline = load_translator(model)
        except Exception as error:  # A folder that is not a translation model must still give a page.
            self.error = f"Could not load the model `{model}`: {error}"
        if self.pipeline is not None:
            generation = self.pipeline.model.generation_config
            self.num_beams = generation.num_beams or self.num_beams
            self.max_new_tokens = generation.max_new_tokens or self.max_new_tokens

    def require(self):
        if self.pipeline is None:
            raise gr.Error(self.error, duration=None)
        return self.pipeline


def concurrency_limit(translator: Translator) -> int:
    """Requests served at once, from the model's size: the machine's free memory over what one request needs (the
    weights' size, as a bound on its activations and decoded frames), between 1 and `MAX_CONCURRENCY`."""
    if translator.pipeline is None:
        return 1
    weights = sum(parameter.numel() * parameter.element_size() for parameter in translator.pipeline.model.parameters())
    available = psutil.virtual_memory().available
    return max(1, min(MAX_CONCURRENCY, int(available // max(weights, 1) // 2)))


def check_video(path: str | None, max_seconds: float) -> float:
    """The video's duration in seconds; a readable message for anything the model cannot take."""
    if not path:
        raise gr.Error("Upload a video or record one first.", duration=None)
    name = os.path.basename(path)
    try:
        num_frames = probe_video(path)
        fps = video_frame_rate(path) or 25.0
    except InvalidFileError as error:
        raise cannot_translate(path, error.reason) from error
    except (av.FFmpegError, OSError, IndexError) as error:
        raise gr.Error(f"{name} cannot be read as a video ({error}).", duration=None) from error
    seconds = num_frames / fps
    if seconds > max_seconds:
        raise gr.Error(
            f"{name} is {seconds:.0f} s long; this app takes videos of at most {max_seconds:.0f} s.", duration=None
        )
    return seconds


def cannot_translate(path: str, reason) -> gr.Error:
    """The page's message for a video that cannot be translated. The reason may quote the upload's temporary path:
    the visitor knows the file by its name."""
    name = os.path.basename(path)
    return gr.Error(f"{name} cannot be translated: {str(reason).replace(path, name).rstrip('.')}.", duration=None)


def generate_options(num_beams, max_new_tokens) -> dict:
    return {"num_beams": int(num_beams), "max_new_tokens": int(max_new_tokens)}


def make_examples() -> tuple[list[str], list[str]]:
    """Clips to click: the fixture ASL clips and SynthSign test clips, and a long video of three SynthSign clips
    joined. SynthSign clips come from the demo's corpus when it exists, else are rendered once into
    `outputs/app_examples`."""
    demo_clips = sorted(DEMO_TEST_CLIPS.glob("*.mp4"))[:3]
    if len(demo_clips) < 3:
        rendered = EXAMPLES_DIR / "synthsign"
        demo_clips = sorted((rendered / "videos" / "test").glob("*.mp4"))[:3]
        if len(demo_clips) < 3:
            from datasets_scripts.synthsign import generate_synthsign

            generate_synthsign(rendered, seed=0, num_train=1, num_dev=1, num_test=3, resolution=128, num_workers=1)
            demo_clips = sorted((rendered / "videos" / "test").glob("*.mp4"))[:3]
    long_video = EXAMPLES_DIR / "synthsign_three_sentences.mp4"
    if not long_video.is_file():
        join_videos(demo_clips, long_video)
    return [str(path) for path in [*FIXTURE_CLIPS, *demo_clips[:2]]], [str(long_video)]


def join_videos(paths: list[Path], output: Path, fps: int = 25) -> None:
    """Write the frames of `paths` one after another into one H.264 mp4 at `fps` (written to a temporary name
    first, so that an interrupted run leaves no half-written example)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial.mp4")
    with av.open(str(partial), "w") as target:
        stream = None
        index = 0
        for path in paths:
            with av.open(str(path)) as source:
                for frame in source.decode(video=0):
                    if stream is None:
                        stream = target.add_stream("libx264", rate=fps)
                        stream.width, stream.height = frame.width, frame.height
                        stream.pix_fmt = "yuv420p"
                    image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
                    image.pts, image.time_base = index, Fraction(1, fps)
                    index += 1
                    for packet in stream.encode(image):
                        target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    partial.replace(output)


def build_app(model: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> gr.Blocks:
    translator = Translator(model)
    clips, long_videos = make_examples()
    subtitles_dir = Path(tempfile.mkdtemp(prefix="beyondgloss_subtitles_"))
    beams, max_tokens = translator.num_beams, translator.max_new_tokens

    def translate(video: str, num_beams: float = beams, max_new_tokens: float = max_tokens) -> tuple[str, str]:
        """Translate one sign language clip; returns the translation and how long it took."""
        pipeline = translator.require()
        seconds = check_video(video, max_seconds)
        started = time.perf_counter()
        try:
            text = pipeline(video, **generate_options(num_beams, max_new_tokens))["translation_text"]
        except ValueError as error:  # decoding failed past the first frame: a corrupt file
            raise cannot_translate(video, error) from error
        elapsed = time.perf_counter() - started
        return text, (
            f"Translated {seconds:.1f} s of video in {elapsed:.2f} s "
            f"({int(num_beams)} beams, at most {int(max_new_tokens)} new tokens)."
        )

    def subtitles(
        video: str,
        window_seconds: float = 4.0,
        stride_seconds: float = 2.0,
        num_beams: float = beams,
        max_new_tokens: float = max_tokens,
        progress=gr.Progress(),
    ):
        """Subtitle a long video: one translation per sliding window; returns the video with its subtitles, the cues
        (start, end, text) and the `.srt` file."""
        pipeline = translator.require()
        check_video(video, max_seconds)
        if window_seconds <= 0 or stride_seconds <= 0:
            raise gr.Error("The window and the stride must be longer than 0 s.", duration=None)
        progress(0, desc="Decoding")

        def on_progress(done: int, total: int) -> None:
            progress((done, total), desc="Translating windows", unit="windows")

        try:
            windows = translate_windows(
                pipeline, video, window_seconds, stride_seconds, on_progress=on_progress,
                **generate_options(num_beams, max_new_tokens),
            )
        except ValueError as error:
            raise cannot_translate(video, error) from error
        cues = subtitle_cues(windows)
        # A folder per request: two visitors may subtitle videos of the same name at once.
        srt_path = Path(tempfile.mkdtemp(dir=subtitles_dir)) / f"{Path(video).stem}.srt"
        srt_path.write_text(to_srt(cues), encoding="utf-8")
        table = [[round(start, 2), round(end, 2), text] for start, end, text in cues]
        return gr.Video(value=video, subtitles=str(srt_path)), table, str(srt_path)

    with gr.Blocks(title="BeyondGloss: sign language translation", analytics_enabled=False) as app:
        gr.Markdown(
            "# BeyondGloss: sign language translation\n"
            "Sign language video in, a spoken-language sentence out (gloss-free translation, BeyondGloss, BMVC "
            f"2025). Model: `{model}`. A machine translation of a narrow domain, not an interpreter."
        )
        if translator.error:
            gr.Markdown(f"**{translator.error}**", elem_id="model-error")
        with gr.Tab("Short clip"):
            with gr.Row():
                with gr.Column():
                    clip = gr.Video(label="Sign language clip", sources=["upload", "webcam"])
                    with gr.Row():
                        clip_beams = gr.Slider(1, 10, value=beams, step=1, label="Beams")
                        clip_tokens = gr.Slider(1, 300, value=max_tokens, step=1, label="Max new tokens")
                    translate_button = gr.Button("Translate", variant="primary")
                with gr.Column():
                    translation = gr.Textbox(label="Translation", elem_id="translation", interactive=False)
                    timing = gr.Markdown(elem_id="timing")
            gr.Examples(examples=[[path] for path in clips], inputs=[clip], label="Example clips")
            translate_button.click(
                translate, [clip, clip_beams, clip_tokens], [translation, timing], api_name="translate"
            )
        with gr.Tab("Long video"):
            with gr.Row():
                with gr.Column():
                    long_video = gr.Video(label="Long video", sources=["upload", "webcam"])
                    with gr.Row():
                        window = gr.Number(value=4.0, label="Window (s)", minimum=0.1)
                        stride = gr.Number(value=2.0, label="Stride (s)", minimum=0.1)
                    with gr.Row():
                        long_beams = gr.Slider(1, 10, value=beams, step=1, label="Beams")
                        long_tokens = gr.Slider(1, 300, value=max_tokens, step=1, label="Max new tokens")
                    subtitle_button = gr.Button("Subtitle", variant="primary")
                with gr.Column():
                    subtitled = gr.Video(label="With subtitles", interactive=False)
                    cue_table = gr.Dataframe(
                        headers=["start", "end", "text"], label="Cues", interactive=False, elem_id="cues"
                    )
                    srt_file = gr.File(label="Subtitles (.srt)", elem_id="srt")
            gr.Examples(examples=[[path] for path in long_videos], inputs=[long_video], label="Example video")
            subtitle_button.click(
                subtitles,
                [long_video, window, stride, long_beams, long_tokens],
                [subtitled, cue_table, srt_file],
                api_name="subtitles",
            )
    app.queue(default_concurrency_limit=concurrency_limit(translator))
    return app


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV, DEFAULT_MODEL),
                        help=f"A saved translation model: a folder or a Hub id (default: ${MODEL_ENV}, else "
                             f"{DEFAULT_MODEL}).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--max_video_seconds", type=float,
                        default=float(os.environ.get(MAX_SECONDS_ENV, DEFAULT_MAX_SECONDS)),
                        help=f"Longest video accepted, in seconds (default: ${MAX_SECONDS_ENV}, else 600).")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    app = build_app(args.model, args.max_video_seconds)
    app.launch(server_name=args.host, server_port=args.port, allowed_paths=EXAMPLE_FOLDERS)


if __name__ == "__main__":
    main()
