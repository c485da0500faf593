"""Project-level guarantees: the environment files agree, notebooks are paired and runnable, the CLI starts fast."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def _pins(lines):
    return {re.split(r"[=<>]", l.strip())[0].lower(): l.strip() for l in lines}


def test_environment_yml_has_the_same_pins_as_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    yml = (ROOT / "environment.yml").read_text()
    yml_lines = [m.group(1) for m in re.finditer(r"^\s+- ([A-Za-z][\w\-\[\]]*[=<>]=?[^\s#]+|[A-Za-z][\w\-]*)\s*$", yml, re.M)]
    yml_pins = _pins(yml_lines)
    for name, spec in _pins(deps).items():
        assert name in yml_pins, f"environment.yml lacks {spec}"
        assert yml_pins[name] == spec, f"environment.yml has {yml_pins[name]}, pyproject.toml {spec}"
    assert "python=3.11" in yml


def test_torch_is_pinned_to_the_local_cpu_wheel():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps  # an unpinned torch pulls a multi-GB CUDA build


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_notebook_is_paired_and_in_sync(source):
    import jupytext

    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{source.name} has no paired {ipynb.name}: run `jupytext --sync {source}`"
    from_py = jupytext.read(source)
    from_nb = jupytext.read(ipynb)
    src_cells = [(c.cell_type, c.source.strip()) for c in from_py.cells]
    nb_cells = [(c.cell_type, c.source.strip()) for c in from_nb.cells]
    assert src_cells == nb_cells, f"{ipynb.name} is out of sync with {source.name}: run `jupytext --sync {source}`"
    kernelspec = json.loads(ipynb.read_text())["metadata"].get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{ipynb.name} must name its kernel (python3)"


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_notebook_first_code_cell_is_tagged_parameters(source):
    import jupytext

    code = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), f"{source.name}: first code cell must be tagged parameters"


def test_every_subcommand_has_help():
    from mmkp_lib.cli import SUBCOMMANDS, build_parser

    parser = build_parser()
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0


def test_cli_choice_literals_agree_with_the_library():
    # The CLI spells these tuples out so that `mmkp --help` imports nothing heavy; they must not drift apart.
    from mmkp_lib import formats, teacher
    from mmkp_lib.cli import args, convert
    from mmkp_lib.cli import teacher as teacher_cli

    assert args.READABLE_FORMATS == formats.READABLE_FORMATS
    assert convert.FORMAT_CHOICES == formats.FORMATS
    assert teacher_cli.BACKEND_CHOICES == teacher.BACKENDS


def test_cli_help_does_not_import_heavy_libraries():
    code = ("import sys, contextlib, io\n"
            "from mmkp_lib.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "heavy = [m for m in ('torch', 'transformers', 'nltk', 'peft', 'pandas') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"`mmkp --help` imported {out}; import heavy libraries inside the subcommand's run()"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", ["03_sft_vs_cot", "04_dyncot", "05_breakdowns"])
def test_analysis_cells_define_no_functions(name):
    """From the cell that imports mmkp_lib.analysis on, a results notebook only calls the library: its verdicts,
    texts, tables and figures are functions of mmkp_lib.analysis / mmkp_lib.plots, tested there."""
    import ast

    import jupytext

    code = [c.source for c in jupytext.read(ROOT / "notebooks" / f"{name}.py").cells if c.cell_type == "code"]
    first = next(i for i, src in enumerate(code) if "from mmkp_lib import analysis" in src)
    for src in code[first:]:
        tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith("%")))
        defined = [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defined, (f"{name}.py defines {', '.join(defined)} in an analysis cell; move it into "
                             "mmkp_lib.analysis (or mmkp_lib.plots) with a test")


@pytest.mark.parametrize("source", NOTEBOOK_SOURCES, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter_with_its_help(source):
    """`papermill --help-notebook` lists a parameter only if its line parses (an '=' inside the comment made
    papermill drop two of them with "Unable to parse line")."""
    import ast

    import jupytext
    import papermill

    ipynb = source.with_suffix(".ipynb")
    cell = next(c for c in jupytext.read(ipynb).cells if c.cell_type == "code")
    names = [t.id for n in ast.parse(cell.source).body if isinstance(n, ast.Assign) for t in n.targets]
    params = papermill.inspect_notebook(str(ipynb))
    assert set(names) == set(params), f"papermill cannot read {sorted(set(names) - set(params))} in {ipynb.name}"
    assert all(p["help"] for p in params.values()), f"{ipynb.name}: a parameter without a comment"
