"""The search tool's work inside another tool's process: a sweep's runs without a start-up each.

A module of its own, defining no flags: the sweep tool uses it, and so can
tests, beside the tools whose flags would clash on absl's global flags.
"""

import contextlib
import traceback

import keras

from keras_slt.cli import common, search_flags
from keras_slt.experiments import runner


def search_launcher(base_flags=()):
    """A `launch` for `sweep.execute` that runs each search in this process.

    The search tool's work without its start-up: the run's flags parsed as
    the tool parses them, its output and any error (in the tool's words,
    or the traceback of a bug) in the run's log. Runs one search at a time.
    """

    def launch(run, output_root, log):
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                run_config, given = search_flags.parse_command(run.command(output_root, base_flags, program=()))
                with common.arguments_as_flags(search_flags.SETTINGS):
                    run_config.validate(given)
                    results = runner.run_search(run_config, verbose=2)
                print("\n".join(runner.report(results)))
                return 0
            except Exception as error:  # noqa: BLE001  (the run failed, not the sweep: on to the next run)
                ending = common.exit_line(error)
                if ending is None:
                    traceback.print_exc()
                    return 1
                print(f"error: {ending[0]}")
                return ending[1]
            finally:
                # The next run starts from a fresh Keras state, as in a new process.
                keras.backend.clear_session()

    return launch
