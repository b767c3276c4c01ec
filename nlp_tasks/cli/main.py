"""The ``nlp-tasks`` program: ``nlp-tasks TASK COMMAND ...``, ``python -m nlp_tasks ...``, or
``python cli.py ...`` in a source tree.

One subgroup per task, built from the task registry (:mod:`nlp_tasks.registry`); a command
parses its arguments and calls one pipeline method. TensorFlow is imported only inside commands,
so ``--help`` is instant. Mistakes print one line, ``error: ...``, on stderr and exit with
status 2; no traceback. Process-wide settings (TensorFlow's C++ log level) are applied here, by
the program, not by the library (:func:`nlp_tasks.runtime.configure_process`).
"""

from __future__ import annotations

import json
import sys

import click

from nlp_tasks import UserError, __version__
from nlp_tasks.cli import options
from nlp_tasks.registry import entries, resolve
from nlp_tasks.serve.spec import Limits  # settings only: nothing here imports FastAPI or TensorFlow


class TaskGroup(click.Group):
    """Root group whose task subgroups are imported only when used."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(entries()))

    def get_command(self, ctx, name):
        registered = entries()
        if name in registered:
            entry = registered[name]
            if entry.cli:
                from nlp_tasks.cli.commands import add_generic_commands

                return add_generic_commands(resolve(entry.cli), entry.pipeline)
            from nlp_tasks.cli.commands import task_group

            return task_group(entry.pipeline, entry.help)
        return super().get_command(ctx, name)

    def format_commands(self, ctx, formatter):
        registered = entries()
        rows = [(name, registered[name].help) for name in sorted(registered)]
        rows += [(name, self.commands[name].get_short_help_str()) for name in sorted(self.commands)]
        if not registered:
            rows.append(("(tasks)", "no task pipeline is installed yet"))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=TaskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nlp-tasks")
def cli():
    """Recurrent sequence models you can read and trust: NER, sentiment, language models, music."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info(as_json):
    """Show versions, the devices TensorFlow sees, the benchmark data folder and the tasks."""
    from nlp_tasks.io.paths import data_dir
    from nlp_tasks.runtime import device_summary

    summary = {"nlp_tasks": __version__, **device_summary()}
    found = data_dir(required=False)
    summary["data_dir"] = str(found) if found else None
    summary["tasks"] = sorted(entries())
    from nlp_tasks.layers.recurrent import path_summary

    summary["recurrent_paths"] = path_summary()  # which path each cell kind takes on this device
    from nlp_tasks.layers import calibration

    summary["training_paths"] = calibration.summary()  # what was measured on this machine
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for key, value in summary.items():
        if isinstance(value, dict):
            value = "; ".join(f"{k}: {v}" for k, v in value.items())
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        click.echo(f"{key:15} {value}")


@cli.command()
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the web page in a browser once the server is up.")
@options.config_options(Limits)
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="warning",
              show_default=True, help="Server log level; 'info' also logs every request.")
def serve(models, host, port, open_browser, log_level, **values):
    """Serve saved models (MODEL: a folder, or NAME=FOLDER) over HTTP: a JSON API under /v1, its
    documentation at /docs and a web page at / that runs every model on a text."""
    from nlp_tasks.serve import serve as run_server

    limits = options.config_from(Limits, values)[0]
    run_server(models, host, port, limits, open_browser, log_level)


def usage_message(err: click.UsageError) -> str:
    """The mistake in one line; a mistyped command gets ``Did you mean 'train'?``, as click says it
    for a mistyped option, among the commands ``--help`` shows (not a former, hidden name)."""
    import difflib

    if not isinstance(err, click.exceptions.NoSuchCommand):
        return " ".join(err.format_message().split())
    group = err.ctx.command if err.ctx is not None else None  # click's own suggestion counts hidden names
    shown = [name for name in group.list_commands(err.ctx) if not group.get_command(err.ctx, name).hidden] \
        if isinstance(group, click.Group) else []
    close = difflib.get_close_matches(err.command_name, shown, n=3, cutoff=0.6)
    if not close:
        return err.message
    return err.message + (f" Did you mean {close[0]!r}?" if len(close) == 1 else
                          f" (Possible commands: {', '.join(close)})")


def main(argv=None) -> int:
    """Run the CLI; user mistakes become one line on stderr and exit status 2."""
    from nlp_tasks.runtime import configure_process

    try:
        configure_process()  # TensorFlow's C++ log off, malloc tuned: the program's to decide, not the library's
        options.COMMAND_LINE[:] = list(sys.argv[1:] if argv is None else argv)
        cli.main(args=argv, prog_name="nlp-tasks", standalone_mode=False)
    except UserError as err:
        click.echo(f"error: {err.message}", err=True)
        return err.exit_code
    except click.UsageError as err:
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
        click.echo(f"error: {usage_message(err)}{hint}", err=True)
        return 2
    except click.ClickException as err:
        click.echo(f"error: {' '.join(err.format_message().split())}", err=True)
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("error: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
