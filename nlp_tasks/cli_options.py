"""Command-line options spelled the same in every task.

Use them as decorators on a task's click commands::

    @cli.command()
    @options.train
    @options.dev
    @options.out
    @options.epochs()
    @options.seed
    def train(train, dev, out, epochs, seed): ...

Data options take a string, not a ``click.Path``: it may be a local file or folder or a
Hugging Face dataset name, and the task's reader says clearly which it could not find.
"""

from __future__ import annotations

import click

from nlp_tasks.config import MAX_BATCH_SIZE, MAX_EPOCHS, MAX_SEED

train = click.option("--train", "train", metavar="FILE|DATASET", required=True,
                     help="Training data: a local file or folder, or a Hugging Face dataset name.")
dev = click.option("--dev", "dev", metavar="FILE|DATASET", default=None,
                   help="Development (validation) data, used for early stopping and model selection.")
test = click.option("--test", "test", metavar="FILE|DATASET", default=None,
                    help="Test data, evaluated once with the best model at the end.")
data = click.option("--data", "data", metavar="FILE|DATASET", required=True, help="Data to evaluate on.")
out = click.option("--out", "out", type=click.Path(file_okay=False, writable=True), required=True,
                   help="Output folder for the model, logs and metrics.")
seed = click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
                    help="Seeds Python, NumPy and TensorFlow.")
json_output = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
quiet = click.option("--quiet", is_flag=True,
                     help="No progress while training (a bar on a terminal, else one line per epoch).")


def verbosity(quiet: bool, as_json: bool) -> int:
    """``TrainConfig.verbose`` for a train command: progress unless --quiet or --json."""
    return 0 if quiet or as_json else 1


def texts_from(texts, input_file, what: str = "predict") -> list[str]:
    """The TEXTS arguments followed by the non-empty lines of ``--input``; an error if none."""
    from nlp_tasks.data import read_lines
    from nlp_tasks.errors import UserError

    texts = list(texts)
    if input_file:
        texts += [line for line in read_lines(input_file) if line.strip()]
    if not texts:
        raise UserError(f"nothing to {what}: give texts as arguments or --input FILE")
    return texts


def epochs(default: int = 10):
    return click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=default, show_default=True,
                        help="Maximum number of passes over the training data.")


def batch_size(default: int = 32):
    return click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=default, show_default=True,
                        help="Examples per training step.")


def distribution(command):
    """``--strategy``, ``--cpu-replicas``, ``--mixed-precision``, ``--tensorboard``,
    ``--worker-timeout`` for a train command; applied before anything is built."""
    import functools

    @click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]), default="default",
                  show_default=True,
                  help="mirrored: data-parallel over every local GPU (or --cpu-replicas CPU devices); "
                       "multi-worker: over several machines, each started with its TF_CONFIG; "
                       "--batch-size is the global batch, split across replicas.")
    @click.option("--cpu-replicas", type=click.IntRange(min=1), default=None,
                  help="With --strategy mirrored and no GPU: split the CPU into this many devices.")
    @click.option("--mixed-precision", type=click.Choice(["float16", "bfloat16"]), default=None,
                  help="Compute in 16 bits, keep float32 variables (GPUs; float16 scales the loss).")
    @click.option("--tensorboard", is_flag=True, help="Also write TensorBoard logs to OUT/tensorboard.")
    @click.option("--worker-timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                  help="With --strategy multi-worker: how long to wait for every worker of TF_CONFIG to start "
                       "[default: NLP_TASKS_WORKER_TIMEOUT or 300].")
    @functools.wraps(command)
    def wrapper(*args, strategy, cpu_replicas, mixed_precision, tensorboard, worker_timeout, **kwargs):
        from nlp_tasks import distribute

        # Multi-worker: SIGINT/SIGTERM and a lost peer end the whole command with one line.
        with distribute.guarded(strategy == "multi-worker"):
            distribute.use(strategy, cpu_replicas, mixed_precision, tensorboard, worker_timeout)
            return command(*args, **kwargs)

    return wrapper


def reading(command):
    """``--max-example-chars`` and ``--on-bad-lines`` for a command that reads data files; the
    readers use them while the command runs (:func:`nlp_tasks.data.reading_options`)."""
    import functools

    # Spelled out, not imported: nlp_tasks.data imports NumPy, and --help stays instant
    # (tests/test_sources.py checks the figures against nlp_tasks.data).
    @click.option("--max-example-chars", type=click.IntRange(min=1), default=None,
                  help="Refuse an example (line, text, sentence) longer than this many characters "
                       "[default: $NLP_TASKS_MAX_EXAMPLE_CHARS or 1,000,000].")
    @click.option("--on-bad-lines", type=click.Choice(["error", "skip"]), default="error", show_default=True,
                  help="A malformed line in a line-based file (label-text, CoNLL, CSV/TSV/JSON-lines): stop "
                       "with an error, or skip it (counted in one warning).")
    @functools.wraps(command)
    def wrapper(*args, max_example_chars, on_bad_lines, **kwargs):
        from nlp_tasks.data import reading_options

        with reading_options(max_example_chars=max_example_chars, on_bad_lines=on_bad_lines):
            return command(*args, **kwargs)

    return wrapper
