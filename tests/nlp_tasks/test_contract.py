"""One contract every registered task keeps (as flair's model tests do for every model): a model
trained by ``fit`` (the session's tiny models) predicts plain Python, saves and loads to the same
answers, exports to a SavedModel that describes itself, and answers one request of each of its
HTTP operations in one line of JSON.

A new task registers itself and adds its example input below; the test refuses a task without one.
"""

from __future__ import annotations

import json

import pytest

from nlp_tasks import registry

# Per task: an input for ``predict`` and a request body for each HTTP operation.
EXAMPLES = {
    "ner": {"predict": ["Peter visited Paris ."], "requests": {"entities": {"text": "Peter visited Paris ."}}},
    "sentiment": {"predict": ["good film", "bad film"], "requests": {"sentiment": {"texts": ["good film"]}}},
    "charlm": {"predict": ["abc", "cab"], "requests": {"score": {"text": "abc"}, "generate": {"length": 5, "seed": 1}}},
    "music": {"predict": [[[60], [62, 65], [64]]], "requests": {"generate": {"steps": 3, "seed": 1, "format": "json"}}},
    "g2p": {"predict": ["kit", "dim"], "requests": {"pronounce": {"words": ["kit"], "nbest": 2}}},
}


def _tasks():
    return sorted(registry.entries())


def test_every_registered_task_has_an_example_here():
    assert sorted(EXAMPLES) == _tasks()


@pytest.mark.parametrize("task", _tasks())
def test_every_task_predicts_saves_loads_exports_and_serves(task, models, tmp_path):
    from fastapi.testclient import TestClient

    from nlp_tasks.pipeline import Pipeline
    from nlp_tasks.serve.app import create_app

    example = EXAMPLES[task]
    pipe = Pipeline.load(models[task])
    assert pipe.task == task and type(pipe) is registry.pipeline_class(task)
    answer = pipe.predict(example["predict"])
    assert json.loads(json.dumps(answer)) == answer  # plain Python: JSON and back unchanged
    again = Pipeline.load(pipe.save(tmp_path / "saved-again"))
    assert again.predict(example["predict"]) == answer
    if task != "music" or pipe.config.head == "sigmoid":
        description = pipe.export(tmp_path / "export", "savedmodel")
        assert description["task"] == task and (tmp_path / "export" / "export.json").is_file()
    with TestClient(create_app({task: (pipe, models[task])})) as client:
        operations = {op["name"] for op in client.get(f"/v1/models/{task}").json()["operations"]}
        assert operations == set(example["requests"])
        for operation, body in example["requests"].items():
            reply = client.post(f"/v1/models/{task}/{operation}", json=body)
            assert reply.status_code == 200, reply.text
            assert reply.headers["content-type"].startswith("application/json")
        wrong = client.post(f"/v1/models/{task}/{operation}", json={"no_such_field": 1})
        assert wrong.status_code == 422 and list(wrong.json()) == ["error"] and "\n" not in wrong.json()["error"]
