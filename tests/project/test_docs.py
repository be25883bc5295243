"""The documents' promises: their commands name what exists and say enough to run.

README's install section holds the two one-line commands a fresh machine
needs; .ci/run runs exactly the test one. Every other shell command in
README.md, BUILD.md and docs/ runs in the activated virtual environment, so
it starts with `python` (never `.venv/bin/python`), names scripts and
flagfiles that exist, and gives the flags its tool requires; a command
holding `<...>` or `...` is a template for the reader to fill in. The
examples of each tool's --help (its module's docstring) follow the same
rules. tests/cli/test_walkthrough.py runs README's quick start itself.
"""

import ast
import pathlib
import re

import pytest
from helpers import section

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCUMENTS = ["README.md", "BUILD.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
# The tools' modules: their docstrings are their --help, examples included.
TOOLS = ["keras_slt/cli/" + name + ".py" for name in ("search", "export", "benchmark_tflite", "sweep", "plot")]


def readme_commands():
    """README's two one-line commands for a fresh machine, from its install section."""
    lines = section((ROOT / "README.md").read_text(), "Install")
    return [line.strip() for line in lines if line.startswith("    apt-get update && ")]


def code_lines(text):
    """The lines of a Markdown text's code: 4-space indented blocks and fenced blocks."""
    lines, fenced, indented, previous_blank = [], False, False, True
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            lines.append(line.strip())
        elif line.startswith("    ") and (indented or previous_blank) and not line.lstrip().startswith("- "):
            indented = True
            lines.append(line.strip())
        elif line.strip():
            indented = False
        previous_blank = not line.strip()
    return lines


def text_of(document):
    """A Markdown document's text, or a tool module's docstring."""
    text = (ROOT / document).read_text()
    return ast.get_docstring(ast.parse(text)) if document.endswith(".py") else text


def shell_commands(document):
    """The shell commands of a document, continuation lines joined."""
    commands, pending = [], ""
    for line in code_lines(text_of(document)):
        line = pending + line.split("  #")[0].rstrip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        if re.match(r"^((\w+=\S+ )*)(python|\.venv\S*/bin/|keras-slt-)", line):
            commands.append(line)
    return commands


def is_template(command):
    return "<" in command or "..." in command


def flag(command, name):
    match = re.search(rf"--{name}=(\S+)", command)
    return match and match.group(1).strip("'\"")


def flagfile_sets(path, name):
    return any(line.startswith(f"--{name}=") for line in (ROOT / path).read_text().splitlines())


def all_commands():
    return [(document, command) for document in DOCUMENTS + TOOLS for command in shell_commands(document)]


def test_readme_install_section_has_the_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "pip install -e '.[tensorflow,tools]'" in commands[0]
    assert "tools/search.py --flagfile=configs/" in commands[0]
    assert "pytest" in commands[1]


def test_readme_test_command_runs_the_docstring_examples():
    assert ".venv/bin/python -m pytest -q --doctest-modules keras_slt &&" in readme_commands()[1]


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_default_flagfile_exists():
    flagfile = readme_commands()[0].split("--flagfile=")[1].split()[0]
    assert (ROOT / flagfile).is_file()


def test_the_documents_have_commands():
    # The extraction itself: a change of layout must not empty the checks below.
    counts = {document: len(shell_commands(document)) for document in DOCUMENTS + TOOLS}
    assert counts["README.md"] >= 8 and counts["BUILD.md"] >= 5 and counts["docs/USAGE.md"] >= 6, counts
    assert all(counts[tool] >= 1 for tool in TOOLS), counts


def test_commands_run_in_the_activated_environment():
    # Outside the install lines, `.venv/bin/python` would be a second convention.
    install = set(readme_commands())
    wrong = [
        (d, c)
        for d, c in all_commands()
        if c not in install
        and re.search(r"\.venv/bin/(python|pip) (?!install)", c)
        and not c.startswith("python3 -m venv")
    ]
    assert not wrong


@pytest.mark.parametrize("document", DOCUMENTS + TOOLS)
def test_scripts_and_flagfiles_exist(document):
    for command in shell_commands(document):
        for script in re.findall(r"(?:^|\s)((?:tools|deploy|benchmarks)/\w+\.py)", command):
            assert (ROOT / script).is_file(), (document, command)
        for name in ("flagfile", "search_flagfile"):
            path = flag(command, name)
            if path and not is_template(path) and path.startswith("configs/"):
                assert (ROOT / path).is_file(), (document, command)


@pytest.mark.parametrize("document", DOCUMENTS + TOOLS)
def test_commands_give_the_flags_their_tool_needs(document):
    for command in shell_commands(document):
        if is_template(command):
            continue
        flagfile = flag(command, "flagfile")
        from_file = flagfile if flagfile and flagfile.startswith("configs/") else None
        if "tools/search.py" in command:
            # No default output folder, and without a flagfile the epochs default to 100.
            assert flag(command, "output_dir") or (from_file and flagfile_sets(from_file, "output_dir")), command
            assert flag(command, "epochs") or flagfile, command
        if "tools/plot.py" in command or "tools/sweep.py" in command:
            assert flag(command, "output_dir"), command
        if "deploy/export.py" in command or "deploy/benchmark_tflite.py" in command:
            assert flag(command, "output_dir") or flag(command, "model_path"), command
        model_path = flag(command, "model_path")
        if model_path and model_path.endswith(".keras"):
            # A run's file, named from the checkout where the commands run.
            assert "/" in model_path, command


def test_exports_read_folders_a_documented_command_writes():
    # A run folder an export or benchmark reads is one a documented search
    # writes (its --output_dir, or its flagfile's), or a run inside a sweep's.
    runs, sweeps = set(), set()
    for _, command in all_commands():
        folder, path = flag(command, "output_dir"), flag(command, "flagfile")
        if "tools/sweep.py" in command and folder:
            sweeps.add(folder)
        elif "tools/search.py" in command and folder:
            runs.add(folder)
        elif "tools/search.py" in command and path and path.startswith("configs/"):
            runs |= {
                line.split("=", 1)[1]
                for line in (ROOT / path).read_text().splitlines()
                if line.startswith("--output_dir=")
            }
    for document, command in all_commands():
        if is_template(command) or not re.search(r"deploy/\w+\.py|benchmarks/weight_quantization\.py", command):
            continue
        folder = flag(command, "output_dir") or str(pathlib.PurePosixPath(flag(command, "model_path")).parent)
        if folder.startswith("runs/"):
            assert folder in runs or any(folder.startswith(sweep + "/") for sweep in sweeps), (document, command)
