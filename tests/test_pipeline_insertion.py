"""The pipeline file (spec §9.1-§9.2): the original's error messages, and the CLI end to end."""

import json

import pytest

from model_inference.pipeline_file import PipelineInsertionError, load_pipeline_file
from tests.conftest import ROOT, run_nachet
from tests.test_inference import model, pipeline


class Server:
    url = "http://127.0.0.1:9"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def document(default=True):
    return {
        "version": "0.1.4",
        "date": "2024-08-01",
        "models": [
            model("seed-detector-1", "detect", Server),
            model("swinv1-base-dataaugv2-1", "classify", Server),
        ],
        "pipelines": [pipeline("Swin transformer", ["seed-detector-1", "swinv1-base-dataaugv2-1"], default)],
    }


def test_missing_file():
    with pytest.raises(PipelineInsertionError) as error:
        load_pipeline_file("/nowhere/p.yaml")
    assert error.value.args[0] == (
        "\n            \nthe file does not exist, please check the file path\n"
        "            \nprovided path: /nowhere/p.yaml\n            "
    )


def test_bad_extension(tmp_path):
    with pytest.raises(PipelineInsertionError) as error:
        load_pipeline_file(write(tmp_path, "p.md", "x"))
    assert error.value.args[0] == (
        "\nthe file must be a json, a yaml or yml file,\n            \n"
        "please check the file extension\nprovided extension: md"
    )


def test_not_a_dictionary(tmp_path):
    with pytest.raises(PipelineInsertionError) as error:
        load_pipeline_file(write(tmp_path, "p.yaml", "- a\n- b\n"))
    assert error.value.args[0] == (
        "\nthe file must contain a dictionary with the following keys:\n            \n"
        " version, date, pipelines, models \n instead provided a <class 'list'>\n            "
    )


def test_validation_errors(tmp_path):
    bad = document()
    del bad["models"][0]["endpoint"]
    bad["pipelines"][0]["accuracy"] = "high"
    with pytest.raises(PipelineInsertionError, match="validation errors"):
        load_pipeline_file(write(tmp_path, "p.json", bad))


def test_a_file_without_a_default_is_accepted(tmp_path):
    parsed = load_pipeline_file(write(tmp_path, "p.json", document(default=False)))
    assert not any(p.default for p in parsed.pipelines)


def test_yaml_dates_and_nulls(tmp_path):
    import yaml

    doc = document()
    doc["models"][0]["description"] = None
    text = yaml.safe_dump(doc).replace("creation_date: '2024-01-01'", "creation_date: 2024-01-01")
    parsed = load_pipeline_file(write(tmp_path, "p.yml", text))
    assert parsed.models[0].description == "" and parsed.models[0].creation_date == "2024-01-01"


def test_cli_inserts_and_lists(tmp_path):
    env = {
        "NACHET_DATA_DIR": str(tmp_path / "data"),
        "NACHET_BLOB_PIPELINE_DECRYPTION_KEY": "dGhpcyBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE=",
    }
    path = write(tmp_path, "p.json", document())

    def run(*args):
        return run_nachet(env, *args)

    inserted = run("pipelines", "insert", path)
    assert inserted.returncode == 0, inserted.stderr
    assert "Swin transformer" in inserted.stdout and "encrypted" in inserted.stdout
    listed = run("pipelines", "list")
    assert "Swin transformer (default)" in listed.stdout
    assert run("pipelines", "reload").stdout.strip() == "reload requested"
    failed = run("pipelines", "insert", str(tmp_path / "missing.yaml"))
    assert failed.returncode == 1 and "the file does not exist" in failed.stderr
    assert run("pipelines", "install-builtin").stdout.strip().endswith(": installed")
    assert run("pipelines", "install-builtin").stdout.strip().endswith(": already installed")
    assert "Local seed detector + feedback classifier" in run("pipelines", "list").stdout
    example = run("pipelines", "insert", str(ROOT / "pipelines" / "example.yaml"))  # it has no default
    assert example.returncode == 0, example.stderr
    assert "Swin transformer (default)" in run("pipelines", "list").stdout  # the current default stays
    other = "Example detector + Swin"
    assert run("pipelines", "set-default", other).stdout.strip() == f"{other} is now the default pipeline"
    assert run("pipelines", "list").stdout.splitlines()[0].startswith(f"{other} (default)")
    refused = run("pipelines", "remove", other)
    assert refused.returncode == 1 and "is the default pipeline" in refused.stderr
    assert run("pipelines", "remove", "Swin transformer").returncode == 0
    assert "Swin transformer" not in run("pipelines", "list").stdout
    for action in ("remove", "set-default"):
        unknown = run("pipelines", action, "Nowhere")
        assert unknown.returncode == 1 and unknown.stderr.strip() == "error: no active pipeline Nowhere"
